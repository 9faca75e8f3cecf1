package storetest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// CredentialStore is a backend with the password lifecycle: the Store, its
// Credentials and its MailQueue, and the Feed its password changes record
// their security events in.
type CredentialStore interface {
	store.Store
	store.Credentials
	store.MailQueue
	store.Feed
}

// RunCredentials runs the conformance cases of store.Credentials and
// store.MailQueue, each against a new store from newStore.
func RunCredentials(t *testing.T, newStore func(t *testing.T) CredentialStore) {
	for _, group := range [][]credCase{tokenCases, passwordCases, passwordEventCases, mailCases} {
		for _, c := range group {
			t.Run(c.name, func(t *testing.T) {
				t.Cleanup(func() {
					if t.Failed() {
						t.Logf("this case checks that %s", c.what)
					}
				})
				s := newStore(t)
				c.run(&credFixture{fixture: fixture{t: t, ctx: t.Context(), s: s}, c: s})
			})
		}
	}
}

type credCase struct {
	name string
	what string
	run  func(f *credFixture)
}

type credFixture struct {
	fixture
	c CredentialStore
}

const tokenTTL = time.Hour

// newHash returns the SHA-256 of 32 random bytes: a token's stored form.
func newHash() []byte {
	var b [32]byte
	rand.Read(b[:])
	h := sha256.Sum256(b[:])
	return h[:]
}

// mailFor returns a message to queue at t.
func mailFor(kind store.TokenKind, t time.Time) store.Mail {
	p := make([]byte, 48)
	rand.Read(p)
	return store.Mail{ID: newID(), Kind: string(kind), Payload: p, CreatedAt: t, NotAfter: t.Add(tokenTTL)}
}

// issue issues a token of kind for email at t with its mail and returns the
// token's hash, the mail, and the user id IssueToken returned.
func (f *credFixture) issue(kind store.TokenKind, email string, t time.Time) ([]byte, store.Mail, string) {
	f.t.Helper()
	h, m := newHash(), mailFor(kind, t)
	id, err := f.c.IssueToken(f.ctx, store.TokenRequest{Kind: kind, Email: email, Hash: h, Now: t, ExpiresAt: t.Add(tokenTTL), Mail: m})
	if err != nil {
		f.t.Fatalf("IssueToken(%s, %s): %v", kind, email, err)
	}
	return h, m, id
}

// queued returns every message due at t, leased to a throwaway owner for
// a nanosecond (so the lease has lapsed at any later instant).
func (f *credFixture) queued(t time.Time) []store.Mail {
	f.t.Helper()
	ms, err := f.c.LeaseMail(f.ctx, "peek-"+newID(), t, time.Nanosecond, 1000)
	if err != nil {
		f.t.Fatalf("LeaseMail: %v", err)
	}
	return ms
}

func (f *credFixture) stats() store.MailStats {
	f.t.Helper()
	s, err := f.c.MailStats(f.ctx)
	if err != nil {
		f.t.Fatalf("MailStats: %v", err)
	}
	return s
}

// noToken fails unless TokenByHash(h) is ErrNotFound.
func (f *credFixture) noToken(what string, h []byte) {
	f.t.Helper()
	tok, err := f.c.TokenByHash(f.ctx, h)
	if !errors.Is(err, store.ErrNotFound) {
		f.t.Errorf("%s: TokenByHash = %+v, %v; want ErrNotFound", what, tok, err)
	}
}

func (f *credFixture) getUser(id string) store.User {
	f.t.Helper()
	u, err := f.s.UserByID(f.ctx, id)
	if err != nil {
		f.t.Fatalf("UserByID(%s): %v", id, err)
	}
	return u
}

// reset is SetPassword through a reset token.
func (f *credFixture) reset(h []byte, newHash string, t time.Time) (store.PasswordChanged, error) {
	return f.c.SetPassword(f.ctx, store.PasswordChange{TokenHash: h, NewHash: newHash, Reason: "password_reset", Now: t})
}

var tokenCases = []credCase{
	{
		name: "Token/Issue",
		what: "IssueToken stores a token for an active user and queues its mail in the same write; TokenByHash reads the token back field for field",
		run: func(f *credFixture) {
			u := f.user()
			now := at(time.Minute)
			h, m, id := f.issue(store.TokenPasswordReset, u.Email, now)
			if id != u.ID {
				f.t.Fatalf("IssueToken returned user %q, want %q", id, u.ID)
			}
			tok, err := f.c.TokenByHash(f.ctx, h)
			if err != nil {
				f.t.Fatalf("TokenByHash: %v", err)
			}
			f.report("token", slices.Concat(field("UserID", tok.UserID, u.ID), field("Kind", tok.Kind, store.TokenPasswordReset),
				sameTime("CreatedAt", tok.CreatedAt, now), sameTime("ExpiresAt", tok.ExpiresAt, now.Add(tokenTTL)),
				field("Hash", string(tok.Hash), string(h))))
			got := f.queued(now)
			if len(got) != 1 {
				f.t.Fatalf("%d messages queued, want 1", len(got))
			}
			f.report("queued mail", slices.Concat(field("ID", got[0].ID, m.ID), field("Kind", got[0].Kind, m.Kind),
				sameTime("CreatedAt", got[0].CreatedAt, now), sameTime("NotAfter", got[0].NotAfter, m.NotAfter)))
			if !bytes.Equal(got[0].Payload, m.Payload) {
				f.t.Errorf("payload changed in the queue")
			}
		},
	},
	{
		name: "Token/NoSuchUser",
		what: "a token asked for an unknown address, an inactive user, or (verification) an already verified user is issued to nobody: IssueToken returns \"\", queues no mail, and the hash is no user's token",
		run: func(f *credFixture) {
			inactive := f.user(func(u *store.User) { u.Status = store.UserInactive })
			verified := f.user()
			for _, c := range []struct {
				kind  store.TokenKind
				email string
			}{
				{store.TokenPasswordReset, "nobody@example.com"},
				{store.TokenPasswordReset, "nobody@example.com"}, // again: the void row is replaced, not duplicated
				{store.TokenPasswordReset, inactive.Email},
				{store.TokenEmailVerification, verified.Email},
				{store.TokenEmailVerification, "nobody@example.com"},
			} {
				h, _, id := f.issue(c.kind, c.email, at(time.Minute))
				if id != "" {
					f.t.Errorf("IssueToken(%s, %s) returned user %q, want none", c.kind, c.email, id)
				}
				f.noToken("token of nobody", h)
				if _, err := f.reset(h, "new", at(2*time.Minute)); !errors.Is(err, store.ErrStale) {
					f.t.Errorf("SetPassword with the token of nobody: %v, want ErrStale", err)
				}
			}
			if s := f.stats(); s.Queued != 0 {
				f.t.Errorf("%d messages queued, want none", s.Queued)
			}
		},
	},
	{
		name: "Token/Replaced",
		what: "a newer token of the same kind voids the older one, and a token of the other kind is left alone",
		run: func(f *credFixture) {
			u := f.user(func(u *store.User) { u.EmailUnverified = true })
			verify, _, _ := f.issue(store.TokenEmailVerification, u.Email, at(time.Minute))
			older, _, _ := f.issue(store.TokenPasswordReset, u.Email, at(time.Minute))
			newer, _, _ := f.issue(store.TokenPasswordReset, u.Email, at(2*time.Minute))
			f.noToken("the older reset token", older)
			if _, err := f.reset(older, "new", at(3*time.Minute)); !errors.Is(err, store.ErrStale) {
				f.t.Errorf("SetPassword with the older token: %v, want ErrStale", err)
			}
			for _, h := range [][]byte{newer, verify} {
				if _, err := f.c.TokenByHash(f.ctx, h); err != nil {
					f.t.Errorf("TokenByHash(a live token): %v", err)
				}
			}
		},
	},
	{
		name: "Token/Purge",
		what: "Purge deletes the tokens that expired before its cut and keeps the others",
		run: func(f *credFixture) {
			a, b := f.user(), f.user()
			old, _, _ := f.issue(store.TokenPasswordReset, a.Email, at(0))
			live, _, _ := f.issue(store.TokenPasswordReset, b.Email, at(2*time.Hour))
			if _, err := f.s.Purge(f.ctx, at(2*time.Hour), at(0)); err != nil {
				f.t.Fatalf("Purge: %v", err)
			}
			f.noToken("the expired token after Purge", old)
			if _, err := f.c.TokenByHash(f.ctx, live); err != nil {
				f.t.Errorf("TokenByHash(the live token) after Purge: %v", err)
			}
		},
	},
	{
		name: "Verify/Consumes",
		what: "VerifyEmail consumes a live verification token and marks the address verified at now, once; an expired token or a reset token does not verify",
		run: func(f *credFixture) {
			u := f.user(func(u *store.User) { u.EmailUnverified = true })
			reset, _, _ := f.issue(store.TokenPasswordReset, u.Email, at(0))
			if _, err := f.c.VerifyEmail(f.ctx, reset, at(time.Minute)); !errors.Is(err, store.ErrStale) {
				f.t.Errorf("VerifyEmail with a reset token: %v, want ErrStale", err)
			}
			h, _, _ := f.issue(store.TokenEmailVerification, u.Email, at(0))
			if _, err := f.c.VerifyEmail(f.ctx, h, at(tokenTTL)); !errors.Is(err, store.ErrStale) {
				f.t.Errorf("VerifyEmail at the token's expiry: %v, want ErrStale", err)
			}
			if !f.getUser(u.ID).EmailUnverified {
				f.t.Fatalf("a refused verification changed the user")
			}
			now := at(time.Minute)
			id, err := f.c.VerifyEmail(f.ctx, h, now)
			if err != nil || id != u.ID {
				f.t.Fatalf("VerifyEmail = %q, %v; want %q", id, err, u.ID)
			}
			want := u
			want.EmailUnverified, want.EmailVerifiedAt, want.UpdatedAt = false, now, now
			f.sameUser("verified user", f.getUser(u.ID), want)
			if _, err := f.c.VerifyEmail(f.ctx, h, at(2*time.Minute)); !errors.Is(err, store.ErrStale) {
				f.t.Errorf("VerifyEmail a second time: %v, want ErrStale", err)
			}
			if _, err := f.c.TokenByHash(f.ctx, reset); err != nil {
				f.t.Errorf("the reset token did not survive the verification: %v", err)
			}
		},
	},
}

var passwordCases = []credCase{
	{
		name: "Password/Reset",
		what: "SetPassword through a reset token sets the hash, revokes every session of the user (none of another user's), marks the address verified and consumes the token: a second use is ErrStale",
		run: func(f *credFixture) {
			u := f.user(func(u *store.User) { u.EmailUnverified = true })
			other := f.user()
			a, b, theirs := f.session(u.ID), f.session(u.ID), f.session(other.ID)
			h, _, _ := f.issue(store.TokenPasswordReset, u.Email, at(0))
			now := at(time.Minute)
			got, err := f.reset(h, "new-hash", now)
			if err != nil {
				f.t.Fatalf("SetPassword(token): %v", err)
			}
			if got.UserID != u.ID || got.Revoked != 2 {
				f.t.Errorf("SetPassword = %+v, want user %s and 2 revoked", got, u.ID)
			}
			want := u
			want.PasswordHash, want.UpdatedAt, want.EmailUnverified, want.EmailVerifiedAt = "new-hash", now, false, now
			f.sameUser("user after the reset", f.getUser(u.ID), want)
			f.unchanged(revokedAt(a, now, "password_reset"))
			f.unchanged(revokedAt(b, now, "password_reset"))
			f.unchanged(theirs)
			f.noToken("the used token", h)
			if _, err := f.reset(h, "again", at(2*time.Minute)); !errors.Is(err, store.ErrStale) {
				f.t.Errorf("second use of the token: %v, want ErrStale", err)
			}
			if f.getUser(u.ID).PasswordHash != "new-hash" {
				f.t.Errorf("a refused second use changed the password")
			}
		},
	},
	{
		name: "Password/ResetRefused",
		what: "a reset token at or after its expiry, or of a user deactivated since, is refused with ErrStale and changes nothing",
		run: func(f *credFixture) {
			u, gone := f.user(), f.user()
			s := f.session(u.ID)
			h, _, _ := f.issue(store.TokenPasswordReset, u.Email, at(0))
			if _, err := f.reset(h, "new", at(tokenTTL)); !errors.Is(err, store.ErrStale) {
				f.t.Errorf("SetPassword at the token's expiry: %v, want ErrStale", err)
			}
			g, _, _ := f.issue(store.TokenPasswordReset, gone.Email, at(0))
			if _, err := f.s.DeactivateUser(f.ctx, gone.ID, "user_deactivated", at(time.Second)); err != nil {
				f.t.Fatal(err)
			}
			if _, err := f.reset(g, "new", at(time.Minute)); !errors.Is(err, store.ErrStale) {
				f.t.Errorf("SetPassword for a deactivated user: %v, want ErrStale", err)
			}
			f.sameUser("user after a refused reset", f.getUser(u.ID), u)
			f.unchanged(s)
		},
	},
	{
		name: "Password/ActivateUser",
		what: "ActivateUser makes an inactive user active with UpdatedAt now and changes nothing else: a password set after the caller read the user stays; an unknown user is ErrNotFound",
		run: func(f *credFixture) {
			u := f.user()
			if _, err := f.s.DeactivateUser(f.ctx, u.ID, "user_deactivated", at(time.Second)); err != nil {
				f.t.Fatal(err)
			}
			if _, err := f.c.SetPassword(f.ctx, store.PasswordChange{UserID: u.ID, NewHash: "set while inactive", Reason: "admin", Now: at(2 * time.Second)}); err != nil {
				f.t.Fatal(err)
			}
			if err := f.c.ActivateUser(f.ctx, u.ID, at(3*time.Second)); err != nil {
				f.t.Fatalf("ActivateUser: %v", err)
			}
			want := u
			want.Status, want.PasswordHash, want.UpdatedAt = store.UserActive, "set while inactive", at(3*time.Second)
			f.sameUser("user after ActivateUser", f.getUser(u.ID), want)
			f.wantErr("ActivateUser of an unknown user", f.c.ActivateUser(f.ctx, newID(), at(4*time.Second)), store.ErrNotFound)
		},
	},
	{
		name: "Password/StartSession",
		what: "StartSession stores a sign-in's session (its DPoP binding included, and the re-hash when given, UpdatedAt the session's creation) only while the user is active and its hash is the one checked; a hash changed since, or a user deactivated since, is ErrStale, storing neither the session nor the re-hash",
		run: func(f *credFixture) {
			u := f.user()
			newSession := func() store.Session {
				return store.Session{ID: newID(), UserID: u.ID, Generation: 1, CreatedAt: at(time.Minute), LastRefreshedAt: at(time.Minute),
					RefreshExpiresAt: at(time.Minute + refreshTTL), AbsoluteExpiresAt: at(maxLifetime), ClientID: "web", IP: "192.0.2.1"}
			}
			kept := newSession()
			kept.JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" // bound to a DPoP key (RFC 9449 §5)
			if _, err := f.c.StartSession(f.ctx, store.SessionStart{Session: kept, PasswordHash: u.PasswordHash}); err != nil {
				f.t.Fatalf("StartSession with the stored hash: %v", err)
			}
			f.unchanged(kept)
			f.sameUser("user after a sign-in without a re-hash", f.getUser(u.ID), u)

			rehashed := newSession()
			if _, err := f.c.StartSession(f.ctx, store.SessionStart{Session: rehashed, PasswordHash: u.PasswordHash, NewPasswordHash: "rehashed"}); err != nil {
				f.t.Fatalf("StartSession with a re-hash: %v", err)
			}
			f.unchanged(rehashed)
			want := u
			want.PasswordHash, want.UpdatedAt = "rehashed", rehashed.CreatedAt
			f.sameUser("user after a sign-in with a re-hash", f.getUser(u.ID), want)

			// The password changes; a sign-in that checked the old hash stores nothing.
			if _, err := f.c.SetPassword(f.ctx, store.PasswordChange{UserID: u.ID, NewHash: "changed", Reason: "password_reset", Now: at(2 * time.Minute)}); err != nil {
				f.t.Fatal(err)
			}
			for _, rehash := range []string{"", "old-rehashed"} {
				late := newSession()
				_, err := f.c.StartSession(f.ctx, store.SessionStart{Session: late, PasswordHash: "rehashed", NewPasswordHash: rehash})
				f.wantErr("StartSession with a hash changed since", err, store.ErrStale)
				if _, err := f.s.Session(f.ctx, late.ID); !errors.Is(err, store.ErrNotFound) {
					f.t.Errorf("a refused StartSession stored its session: %v", err)
				}
			}
			if got := f.getUser(u.ID).PasswordHash; got != "changed" {
				f.t.Errorf("password hash %q after refused sign-ins, want the changed one", got)
			}
			if _, err := f.s.DeactivateUser(f.ctx, u.ID, "user_deactivated", at(3*time.Minute)); err != nil {
				f.t.Fatal(err)
			}
			gone := newSession()
			_, err := f.c.StartSession(f.ctx, store.SessionStart{Session: gone, PasswordHash: "changed"})
			f.wantErr("StartSession for a user deactivated since", err, store.ErrStale)
			if _, err := f.s.Session(f.ctx, gone.ID); !errors.Is(err, store.ErrNotFound) {
				f.t.Errorf("a refused StartSession stored its session: %v", err)
			}
		},
	},
	{
		name: "Password/ChangeVoidsToken",
		what: "a password change by user id (the user's own, or an administrator's) voids the user's reset token, so a link mailed before the change no longer works",
		run: func(f *credFixture) {
			u := f.user()
			h, _, _ := f.issue(store.TokenPasswordReset, u.Email, at(0))
			if _, err := f.c.SetPassword(f.ctx, store.PasswordChange{UserID: u.ID, NewHash: "changed", Reason: "password_changed", Now: at(time.Minute)}); err != nil {
				f.t.Fatal(err)
			}
			f.noToken("the token after a password change", h)
			if _, err := f.reset(h, "attacker", at(2*time.Minute)); !errors.Is(err, store.ErrStale) {
				f.t.Errorf("reset with a token from before the change: %v, want ErrStale", err)
			}
			if got := f.getUser(u.ID).PasswordHash; got != "changed" {
				f.t.Errorf("password hash %q, want the changed one", got)
			}
		},
	},
	{
		name: "Password/Change",
		what: "a change with CurrentHash is a compare-and-set (a stale CurrentHash is ErrStale, an unknown user ErrNotFound, neither changing anything); ExceptSessionID spares the caller's session and KeepSessions spares them all",
		run: func(f *credFixture) {
			u := f.user()
			mine, other := f.session(u.ID), f.session(u.ID)
			_, err := f.c.SetPassword(f.ctx, store.PasswordChange{UserID: u.ID, CurrentHash: "not the hash", NewHash: "x", Reason: "password_changed", Now: at(time.Minute)})
			f.wantErr("SetPassword with a stale CurrentHash", err, store.ErrStale)
			_, err = f.c.SetPassword(f.ctx, store.PasswordChange{UserID: newID(), CurrentHash: "h", NewHash: "x", Reason: "password_changed", Now: at(time.Minute)})
			f.wantErr("SetPassword of an unknown user", err, store.ErrNotFound)
			_, err = f.c.SetPassword(f.ctx, store.PasswordChange{UserID: newID(), NewHash: "x", Reason: "password_changed", Now: at(time.Minute)})
			f.wantErr("SetPassword of an unknown user (no CurrentHash)", err, store.ErrNotFound)
			f.sameUser("user after refused changes", f.getUser(u.ID), u)
			f.unchanged(mine)
			f.unchanged(other)

			now := at(2 * time.Minute)
			got, err := f.c.SetPassword(f.ctx, store.PasswordChange{UserID: u.ID, CurrentHash: u.PasswordHash, NewHash: "second",
				ExceptSessionID: mine.ID, Reason: "password_changed", Now: now})
			if err != nil || got.Revoked != 1 {
				f.t.Fatalf("SetPassword = %+v, %v; want 1 revoked", got, err)
			}
			f.unchanged(mine)
			f.unchanged(revokedAt(other, now, "password_changed"))
			third := f.session(u.ID)
			got, err = f.c.SetPassword(f.ctx, store.PasswordChange{UserID: u.ID, CurrentHash: "second", NewHash: "third",
				KeepSessions: true, Reason: "password_changed", Now: at(3 * time.Minute)})
			if err != nil || got.Revoked != 0 {
				f.t.Fatalf("SetPassword(KeepSessions) = %+v, %v; want none revoked", got, err)
			}
			f.unchanged(mine)
			f.unchanged(third)
			if h := f.getUser(u.ID).PasswordHash; h != "third" {
				f.t.Errorf("password hash %q, want third", h)
			}
		},
	},
	{
		name: "Password/ResetRace",
		what: "of 100 concurrent resets presenting one token exactly one succeeds, the others get ErrStale, and the stored hash is the winner's",
		run: func(f *credFixture) {
			u := f.user()
			h, _, _ := f.issue(store.TokenPasswordReset, u.Email, at(0))
			const n = 100
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				winners []string
				others  []error
			)
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					hash := "hash-" + string(rune('A'+i%26)) + newID()
					_, err := f.reset(h, hash, at(time.Minute))
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						winners = append(winners, hash)
					case !errors.Is(err, store.ErrStale):
						others = append(others, err)
					}
				}()
			}
			close(start)
			wg.Wait()
			if len(others) > 0 {
				f.t.Fatalf("%d resets failed otherwise than ErrStale, first: %v", len(others), others[0])
			}
			if len(winners) != 1 {
				f.t.Fatalf("%d resets succeeded, want exactly 1", len(winners))
			}
			if got := f.getUser(u.ID).PasswordHash; got != winners[0] {
				f.t.Errorf("stored hash %q, want the winner's %q", got, winners[0])
			}
		},
	},
}

var passwordEventCases = []credCase{
	{
		name: "Password/Events",
		what: "every password change records, in its transaction and with one txn, a session-revoked event per session it revokes and a credential-change event (with KeepSessions too); a refused change records nothing",
		run: func(f *credFixture) {
			u := f.user()
			keep, other := f.session(u.ID), f.session(u.ID)
			st := f.stream(f.receiver().ID, func(s *store.Stream) {
				s.Delivered = []store.EventKind{store.EventSessionRevoked, store.EventCredentialChange}
			})
			credential := func(what string, e store.Event, txn, reason string, t time.Time) {
				f.t.Helper()
				f.report(what, slices.Concat(field("Kind", e.Kind, store.EventCredentialChange), field("UserID", e.UserID, u.ID),
					field("SessionID", e.SessionID, ""), field("Reason", e.Reason, reason), field("Txn", e.Txn, txn), sameTime("At", e.At, t)))
			}
			// A change by the user: the other session, then the credential.
			res, err := f.c.SetPassword(f.ctx, store.PasswordChange{UserID: u.ID, CurrentHash: u.PasswordHash, NewHash: "h2",
				ExceptSessionID: keep.ID, Reason: "password_changed", Now: at(time.Hour), Txn: "change-1"})
			if err != nil || res.Txn != "change-1" || res.Revoked != 1 {
				f.t.Fatalf("SetPassword = %+v, %v", res, err)
			}
			es := f.events(st.ID)
			if len(es) != 2 {
				f.t.Fatalf("%d events after a change, want 2: %+v", len(es), es)
			}
			f.revoked("change", es[:1], u.ID, "password_changed", at(time.Hour), "change-1", other.ID)
			credential("change", es[1], "change-1", "password_changed", at(time.Hour))
			f.ack(st.ID, es[0].ID, es[1].ID)

			// A change that keeps the sessions: the credential alone; a txn
			// is made up when none is given.
			res, err = f.c.SetPassword(f.ctx, store.PasswordChange{UserID: u.ID, NewHash: "h3", KeepSessions: true,
				Reason: "password_changed", Now: at(2 * time.Hour)})
			if err != nil || res.Txn == "" {
				f.t.Fatalf("SetPassword(KeepSessions) = %+v, %v", res, err)
			}
			es = f.events(st.ID)
			if len(es) != 1 {
				f.t.Fatalf("%d events after a change keeping the sessions, want 1: %+v", len(es), es)
			}
			credential("change keeping the sessions", es[0], res.Txn, "password_changed", at(2*time.Hour))
			f.ack(st.ID, es[0].ID)

			// A reset: every session (keep is the one left), then the credential.
			h, _, _ := f.issue(store.TokenPasswordReset, u.Email, at(2*time.Hour))
			res, err = f.c.SetPassword(f.ctx, store.PasswordChange{TokenHash: h, NewHash: "h4", Reason: "password_reset",
				Now: at(150 * time.Minute), Txn: "reset-1"})
			if err != nil {
				f.t.Fatal(err)
			}
			es = f.events(st.ID)
			if len(es) != 2 {
				f.t.Fatalf("%d events after a reset, want 2: %+v", len(es), es)
			}
			f.revoked("reset", es[:1], u.ID, "password_reset", at(150*time.Minute), "reset-1", keep.ID)
			credential("reset", es[1], "reset-1", "password_reset", at(150*time.Minute))
			f.ack(st.ID, es[0].ID, es[1].ID)

			// Refused: a spent token, a stale current hash, an unknown user.
			_, err = f.c.SetPassword(f.ctx, store.PasswordChange{TokenHash: h, NewHash: "x", Reason: "password_reset", Now: at(4 * time.Hour)})
			f.wantErr("a spent token", err, store.ErrStale)
			_, err = f.c.SetPassword(f.ctx, store.PasswordChange{UserID: u.ID, CurrentHash: "stale", NewHash: "x", Reason: "password_changed", Now: at(4 * time.Hour)})
			f.wantErr("a stale hash", err, store.ErrStale)
			_, err = f.c.SetPassword(f.ctx, store.PasswordChange{UserID: newID(), NewHash: "x", Reason: "password_set_by_admin", Now: at(4 * time.Hour)})
			f.wantErr("an unknown user", err, store.ErrNotFound)
			if es := f.events(st.ID); len(es) != 0 {
				f.t.Errorf("refused changes recorded events: %+v", es)
			}
		},
	},
}
