package storetest

import (
	"slices"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

var sessionCases = []testCase{
	{
		name: "Session/RoundTrip",
		what: "a created session reads back field for field, times exact and in UTC, a zero RevokedAt as zero and a set one as set",
		run: func(f *fixture) {
			u := f.user()
			zone := time.FixedZone("UTC-8", -8*3600)
			live := f.session(u.ID, func(s *store.Session) {
				s.Generation = 5
				s.CreatedAt = at(time.Microsecond).In(zone)
				s.LastRefreshedAt = at(time.Minute + 2*time.Microsecond)
				s.RefreshExpiresAt = at(refreshTTL + 3*time.Microsecond).In(zone)
				s.AbsoluteExpiresAt = at(maxLifetime + 4*time.Microsecond)
				s.ClientID, s.UserAgent, s.IP = "mobile-app", "Mozilla/5.0 (X11; Linux x86_64)", "2001:db8::1"
			})
			f.sameSession("live session", f.get(live.ID), live)
			if s := f.get(live.ID); s.Revoked() {
				f.t.Errorf("a session created without RevokedAt reads back revoked at %s", s.RevokedAt)
			}
			revoked := f.session(u.ID, func(s *store.Session) {
				s.RevokedAt = at(time.Hour + 5*time.Microsecond)
				s.RevokeReason = "sign_out"
				s.ClientID, s.UserAgent, s.IP = "", "", ""
			})
			f.sameSession("revoked session", f.get(revoked.ID), revoked)
		},
	},
	{
		name: "Session/NotFound",
		what: "reading an unknown session returns ErrNotFound",
		run: func(f *fixture) {
			f.session(f.user().ID)
			_, err := f.s.Session(f.ctx, newID())
			f.wantErr("Session(unknown)", err, store.ErrNotFound)
		},
	},
	{
		name: "CreateSession/EvictsLeastRecentlyRefreshed",
		what: "CreateSession beyond maxPerUser revokes (reason session_limit, at the new session's CreatedAt) the user's least recently refreshed live sessions, returns their ids, and ignores revoked and expired sessions and other users",
		run: func(f *fixture) {
			u, other := f.user(), f.user()
			a := f.session(u.ID, refreshedAt(at(1*time.Minute)))
			b := f.session(u.ID, refreshedAt(at(2*time.Minute)))
			c := f.session(u.ID, refreshedAt(at(3*time.Minute)))
			revoked := f.session(u.ID, refreshedAt(at(4*time.Minute)), func(s *store.Session) {
				s.RevokedAt, s.RevokeReason = at(5*time.Minute), "sign_out"
			})
			expired := f.session(u.ID, func(s *store.Session) { s.RefreshExpiresAt = at(5 * time.Minute) })
			theirs := f.session(other.ID)
			now := at(10 * time.Minute)

			// Under the limit nothing is evicted.
			n1 := store.Session{ID: newID(), UserID: u.ID, CreatedAt: now, LastRefreshedAt: now,
				RefreshExpiresAt: now.Add(refreshTTL), AbsoluteExpiresAt: now.Add(maxLifetime)}
			evicted, err := f.s.CreateSession(f.ctx, n1, 4)
			if err != nil {
				f.t.Fatalf("CreateSession under the limit: %v", err)
			}
			f.sameIDs("evicted under the limit", evicted, nil)

			// a, b, c, n1 and n2 are live: a limit of 3 evicts a and b.
			n2 := n1
			n2.ID = newID()
			evicted, err = f.s.CreateSession(f.ctx, n2, 3)
			if err != nil {
				f.t.Fatalf("CreateSession beyond the limit: %v", err)
			}
			slices.Sort(evicted)
			want := []string{a.ID, b.ID}
			slices.Sort(want)
			f.sameIDs("evicted", evicted, want)
			for _, s := range []store.Session{a, b} {
				s.RevokedAt, s.RevokeReason = now, "session_limit"
				f.unchanged(s)
			}
			for _, s := range []store.Session{c, revoked, expired, theirs, n1, n2} {
				f.unchanged(s)
			}

			// 0 means unlimited.
			n3 := n1
			n3.ID = newID()
			evicted, err = f.s.CreateSession(f.ctx, n3, 0)
			if err != nil {
				f.t.Fatalf("CreateSession without a limit: %v", err)
			}
			f.sameIDs("evicted without a limit", evicted, nil)

			// A limit of 1 leaves only the new session, even though the others
			// were refreshed at the same instant as it was created.
			n4 := n1
			n4.ID = newID()
			evicted, err = f.s.CreateSession(f.ctx, n4, 1)
			if err != nil {
				f.t.Fatalf("CreateSession with a limit of 1: %v", err)
			}
			if len(evicted) != 4 {
				f.t.Errorf("a limit of 1 evicted %d sessions, want 4 (c, n1, n2, n3)", len(evicted))
			}
			list, err := f.s.ListSessions(f.ctx, u.ID, now)
			if err != nil {
				f.t.Fatalf("ListSessions: %v", err)
			}
			f.sameIDs("live sessions after a limit of 1", ids(list), []string{n4.ID})
		},
	},
	{
		name: "CreateSession/DuplicateID",
		what: "creating a session with an id already in use returns ErrConflict and leaves the first session alone",
		run: func(f *fixture) {
			u := f.user()
			s := f.session(u.ID)
			dup := s
			dup.Generation = 9
			_, err := f.s.CreateSession(f.ctx, dup, 0)
			f.wantErr("CreateSession(duplicate id)", err, store.ErrConflict)
			f.unchanged(s)
		},
	},
	{
		name: "ListSessions/LiveOnlyNewestFirst",
		what: "ListSessions returns only sessions live at now (not revoked, refresh and absolute expiry after now), most recently refreshed first, and every user's for an empty user id",
		run: func(f *fixture) {
			u, other := f.user(), f.user()
			now := at(time.Hour)
			s1 := f.session(u.ID, refreshedAt(at(1*time.Minute)))
			s2 := f.session(u.ID, refreshedAt(at(3*time.Minute)))
			s3 := f.session(u.ID, refreshedAt(at(2*time.Minute)))
			f.session(u.ID, refreshedAt(at(4*time.Minute)), func(s *store.Session) {
				s.RevokedAt, s.RevokeReason = at(5*time.Minute), "sign_out"
			})
			f.session(u.ID, func(s *store.Session) { s.RefreshExpiresAt = now }) // expires exactly now
			f.session(u.ID, func(s *store.Session) { s.AbsoluteExpiresAt = now.Add(-time.Microsecond) })
			v := f.session(other.ID, refreshedAt(at(4*time.Minute)))

			list, err := f.s.ListSessions(f.ctx, u.ID, now)
			if err != nil {
				f.t.Fatalf("ListSessions(user): %v", err)
			}
			f.sameIDs("ListSessions(user)", ids(list), []string{s2.ID, s3.ID, s1.ID})
			if len(list) == 3 {
				f.sameSession("listed session", list[0], s2)
			}
			all, err := f.s.ListSessions(f.ctx, "", now)
			if err != nil {
				f.t.Fatalf("ListSessions(all): %v", err)
			}
			f.sameIDs("ListSessions(all)", ids(all), []string{v.ID, s2.ID, s3.ID, s1.ID})
			none, err := f.s.ListSessions(f.ctx, newID(), now)
			if err != nil || len(none) != 0 {
				f.t.Errorf("ListSessions(unknown user) = %d sessions, %v; want none", len(none), err)
			}
		},
	},
}
