package storetest

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// sessionIDs returns the SessionID of each event, in order.
func sessionIDs(es []store.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.SessionID
	}
	return out
}

// revoked checks that es are session-revoked events of sessions (in that
// order) of userID, for every stream, with reason, at and one txn (want,
// unless ""), and returns the txn.
func (f *fixture) revoked(what string, es []store.Event, userID, reason string, at time.Time, txn string, sessions ...string) string {
	f.t.Helper()
	f.sameIDs(what+": sessions", sessionIDs(es), sessions)
	f.ascending(what, es)
	seen := map[string]bool{}
	for _, e := range es {
		if seen[e.ID] || e.ID == "" {
			f.t.Errorf("%s: event id %q empty or repeated", what, e.ID)
		}
		seen[e.ID] = true
		if txn == "" {
			txn = e.Txn
		}
		f.report(what, slices.Concat(field("Kind", e.Kind, store.EventSessionRevoked), field("UserID", e.UserID, userID),
			field("StreamID", e.StreamID, ""), field("Reason", e.Reason, reason), field("Txn", e.Txn, txn), sameTime("At", e.At, at)))
	}
	if len(es) > 0 && txn == "" {
		f.t.Errorf("%s: the events have no txn", what)
	}
	return txn
}

// outboxCases check the events the Store's revocations record in the feed,
// in the same transaction: every session that stops being usable before its
// time has its session-revoked event, and nothing else does.
var outboxCases = []testCase{
	{
		name: "Outbox/RevokeBySession",
		what: "revoking a session records one session-revoked event with its session, user, reason, time and the txn given",
		run: func(f *fixture) {
			u := f.user()
			s, other := f.session(u.ID), f.session(u.ID)
			st := f.stream(f.receiver().ID)
			f.revoke(store.RevokeParams{SessionID: s.ID, Reason: "signed_out", Now: at(time.Hour), Txn: "txn-1"}, 1)
			f.revoked("events", f.events(st.ID), u.ID, "signed_out", at(time.Hour), "txn-1", s.ID)
			f.unchanged(other)
		},
	},
	{
		name: "Outbox/RevokeByUser",
		what: "revoking a user's sessions records an event per session revoked (not the one spared) sharing one txn, made up when none is given",
		run: func(f *fixture) {
			u := f.user()
			keep := f.session(u.ID)
			a := f.session(u.ID, refreshedAt(at(-time.Minute)))
			b := f.session(u.ID)
			st := f.stream(f.receiver().ID)
			f.revoke(store.RevokeParams{UserID: u.ID, ExceptSessionID: keep.ID, Reason: "signed_out_elsewhere", Now: at(time.Hour)}, 2)
			es := f.events(st.ID)
			got := sessionIDs(es)
			slices.Sort(got)
			want := []string{a.ID, b.ID}
			slices.Sort(want)
			f.sameIDs("revoked sessions", got, want)
			if len(es) == 2 {
				f.revoked("events", es, u.ID, "signed_out_elsewhere", at(time.Hour), "", es[0].SessionID, es[1].SessionID)
			}
		},
	},
	{
		name: "Outbox/OnlyRevocations",
		what: "a revocation that revokes nothing (already revoked, unknown, refused) records nothing",
		run: func(f *fixture) {
			u := f.user()
			s := f.session(u.ID)
			st := f.stream(f.receiver().ID)
			f.revoke(store.RevokeParams{SessionID: s.ID, Reason: "signed_out", Now: at(time.Hour)}, 1)
			f.revoke(store.RevokeParams{SessionID: s.ID, Reason: "refresh_token_reused", Now: at(2 * time.Hour)}, 0)
			f.revoke(store.RevokeParams{UserID: u.ID, Reason: "user_inactive", Now: at(2 * time.Hour)}, 0)
			f.revoke(store.RevokeParams{SessionID: newID(), Reason: "signed_out", Now: at(2 * time.Hour)}, 0)
			if _, err := f.s.RevokeSessions(f.ctx, store.RevokeParams{Reason: "signed_out", Now: at(2 * time.Hour)}); err == nil {
				f.t.Error("RevokeSessions without a selector succeeded")
			}
			f.revoked("events", f.events(st.ID), u.ID, "signed_out", at(time.Hour), "", s.ID)
		},
	},
	{
		name: "Outbox/Eviction",
		what: "a session evicted at the session limit by CreateSession has its event: reason session_limit, at the new session's creation, txn the new session's id",
		run: func(f *fixture) {
			u := f.user()
			old := f.session(u.ID, refreshedAt(at(-time.Hour)))
			st := f.stream(f.receiver().ID)
			s := store.Session{ID: newID(), UserID: u.ID, CreatedAt: at(time.Minute), LastRefreshedAt: at(time.Minute),
				RefreshExpiresAt: at(time.Minute + refreshTTL), AbsoluteExpiresAt: at(maxLifetime)}
			evicted, err := f.s.CreateSession(f.ctx, s, 1)
			if err != nil {
				f.t.Fatal(err)
			}
			f.sameIDs("evicted", evicted, []string{old.ID})
			f.revoked("events", f.events(st.ID), u.ID, "session_limit", at(time.Minute), s.ID, old.ID)
		},
	},
	{
		name: "Outbox/Deactivate",
		what: "deactivating a user records an event per session it revokes, with one txn; an unknown user records nothing",
		run: func(f *fixture) {
			u := f.user()
			a, b := f.session(u.ID), f.session(u.ID)
			st := f.stream(f.receiver().ID)
			if n, err := f.s.DeactivateUser(f.ctx, u.ID, "user_deactivated", at(time.Hour)); err != nil || n != 2 {
				f.t.Fatalf("DeactivateUser = %d, %v", n, err)
			}
			if _, err := f.s.DeactivateUser(f.ctx, newID(), "user_deactivated", at(time.Hour)); !errors.Is(err, store.ErrNotFound) {
				f.t.Errorf("DeactivateUser(unknown): %v", err)
			}
			es := f.events(st.ID)
			got := sessionIDs(es)
			slices.Sort(got)
			want := []string{a.ID, b.ID}
			slices.Sort(want)
			f.sameIDs("revoked sessions", got, want)
			if len(es) == 2 {
				f.revoked("events", es, u.ID, "user_deactivated", at(time.Hour), "", es[0].SessionID, es[1].SessionID)
			}
		},
	},
	{
		name: "Outbox/PasswordChange",
		what: "RevokeSessions with a PasswordHash sets the user's hash and UpdatedAt, revokes the sessions and records their events and a credential-change event, all with one txn; for an unknown user it is ErrNotFound and changes and records nothing",
		run: func(f *fixture) {
			u := f.user()
			keep, other := f.session(u.ID), f.session(u.ID)
			st := f.stream(f.receiver().ID, func(s *store.Stream) {
				s.Delivered = []store.EventKind{store.EventSessionRevoked, store.EventCredentialChange}
			})
			n, err := f.s.RevokeSessions(f.ctx, store.RevokeParams{UserID: u.ID, ExceptSessionID: keep.ID, Reason: "password_changed",
				Now: at(time.Hour), Txn: "pw-1", PasswordHash: "$argon2id$new"})
			if err != nil || n != 1 {
				f.t.Fatalf("RevokeSessions(password change) = %d, %v; want 1", n, err)
			}
			got, err := f.s.UserByID(f.ctx, u.ID)
			if err != nil {
				f.t.Fatal(err)
			}
			want := u
			want.PasswordHash, want.UpdatedAt = "$argon2id$new", at(time.Hour)
			f.sameUser("user after the password change", got, want)
			f.unchanged(keep)
			es := f.events(st.ID)
			if len(es) != 2 {
				f.t.Fatalf("%d events, want a session-revoked and a credential-change: %+v", len(es), es)
			}
			f.revoked("session event", es[:1], u.ID, "password_changed", at(time.Hour), "pw-1", other.ID)
			c := es[1]
			f.report("credential-change event", slices.Concat(field("Kind", c.Kind, store.EventCredentialChange),
				field("UserID", c.UserID, u.ID), field("SessionID", c.SessionID, ""), field("Txn", c.Txn, "pw-1"), sameTime("At", c.At, at(time.Hour))))

			nobody := newID()
			_, err = f.s.RevokeSessions(f.ctx, store.RevokeParams{UserID: nobody, Reason: "password_changed", Now: at(2 * time.Hour), PasswordHash: "x"})
			f.wantErr("password change of an unknown user", err, store.ErrNotFound)
			if es := f.events(st.ID); len(es) != 2 {
				f.t.Errorf("a refused password change recorded events: %+v", es)
			}
		},
	},
	{
		name: "Outbox/NewStreamReplays",
		what: "a new stream starts with the events that happened at or after its replay time, or with the next event when it has none",
		run: func(f *fixture) {
			u := f.user()
			early, late := f.session(u.ID), f.session(u.ID)
			f.revoke(store.RevokeParams{SessionID: early.ID, Reason: "signed_out", Now: base}, 1)
			f.revoke(store.RevokeParams{SessionID: late.ID, Reason: "signed_out", Now: at(2 * time.Hour)}, 1)
			r := f.receiver()
			create := func(from time.Time) store.Stream {
				s := store.Stream{ID: newID(), ReceiverID: r.ID, Delivered: []store.EventKind{store.EventSessionRevoked},
					Status: store.StreamEnabled, CreatedAt: at(3 * time.Hour), UpdatedAt: at(3 * time.Hour)}
				if err := f.feed().CreateStream(f.ctx, s, from); err != nil {
					f.t.Fatal(err)
				}
				return s
			}
			f.sameIDs("replaying from the start", sessionIDs(f.events(create(at(-time.Hour)).ID)), []string{early.ID, late.ID})
			f.sameIDs("replaying the last hour and a half", sessionIDs(f.events(create(at(90*time.Minute)).ID)), []string{late.ID})
			f.sameIDs("replaying from after both", sessionIDs(f.events(create(at(3*time.Hour)).ID)), nil)
			f.sameIDs("not replaying", sessionIDs(f.events(create(time.Time{}).ID)), nil)
		},
	},
	{
		name: "Outbox/Kinds",
		what: "a stream gets only the kinds it is delivered, and acknowledging what it got passes over the others",
		run: func(f *fixture) {
			u := f.user()
			a, b := f.session(u.ID), f.session(u.ID)
			r := f.receiver()
			creds := f.stream(r.ID, func(s *store.Stream) { s.Delivered = []store.EventKind{store.EventCredentialChange} })
			all := f.stream(r.ID)
			f.revoke(store.RevokeParams{SessionID: a.ID, Reason: "signed_out", Now: at(time.Hour)}, 1)
			f.revoke(store.RevokeParams{UserID: u.ID, Reason: "password_changed", Now: at(time.Hour), PasswordHash: "h"}, 1)
			got := f.events(creds.ID)
			if len(got) != 1 || got[0].Kind != store.EventCredentialChange {
				f.t.Fatalf("the credential-change stream got %+v", got)
			}
			f.ack(creds.ID, got[0].ID)
			if c, h := f.getStream(creds.ID).Cursor, head(f); c != h {
				f.t.Errorf("cursor %d after acknowledging everything the stream gets, want the head %d", c, h)
			}
			f.sameIDs("the other stream's sessions", sessionIDs(f.events(all.ID)), []string{a.ID, b.ID})
		},
	},
	{
		name: "Outbox/ConcurrentNeverSkips",
		what: "with revocations committing concurrently, a reader that moves its cursor over what it has read never skips an event: events become visible in seq order",
		run: func(f *fixture) {
			u := f.user()
			const writers, each = 8, 25
			sessions := make([][]store.Session, writers)
			for w := range sessions {
				for range each {
					sessions[w] = append(sessions[w], f.session(u.ID))
				}
			}
			st := f.stream(f.receiver().ID)
			var wg sync.WaitGroup
			errs := make(chan error, writers+4)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for _, s := range sessions[w] {
						if _, err := f.s.RevokeSessions(f.ctx, store.RevokeParams{SessionID: s.ID, Reason: "signed_out", Now: at(time.Hour)}); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			// Other readers meanwhile (each instance's watcher asks for the
			// head; a backend may number its feed then).
			var heads sync.WaitGroup
			for range 4 {
				heads.Add(1)
				go func() {
					defer heads.Done()
					for {
						select {
						case <-done:
							return
						default:
						}
						if _, err := f.feed().FeedHead(f.ctx); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			defer heads.Wait()
			seen := map[string]bool{}
			read := func() {
				for {
					es, err := f.feed().StreamEvents(f.ctx, st.ID, 50)
					if err != nil {
						f.t.Fatal(err)
					}
					if len(es) == 0 {
						return
					}
					for _, e := range es {
						seen[e.SessionID] = true
					}
					f.ack(st.ID, eventIDs(es)...)
				}
			}
			for finished := false; !finished; {
				select {
				case <-done:
					finished = true
				default:
				}
				read()
			}
			read()
			heads.Wait()
			close(errs)
			for err := range errs {
				f.t.Fatal(err)
			}
			missed := 0
			for _, ws := range sessions {
				for _, s := range ws {
					if !seen[s.ID] {
						missed++
					}
				}
			}
			if missed > 0 || len(seen) != writers*each {
				f.t.Errorf("the reader saw %d events of %d revocations and missed %d", len(seen), writers*each, missed)
			}
		},
	},
}
