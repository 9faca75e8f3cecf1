package storetest

import (
	"errors"
	"sync"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// advance returns the RotateParams of a refresh with rotation on.
func advance(s store.Session, gen int64, now time.Time) store.RotateParams {
	return store.RotateParams{SessionID: s.ID, Generation: gen, Now: now, RefreshTTL: refreshTTL, Advance: true}
}

var rotateCases = []testCase{
	{
		name: "Rotate/Advances",
		what: "Rotate at the current generation increments it, sets LastRefreshedAt to now, slides RefreshExpiresAt to now+TTL, changes nothing else, and Session then shows what Rotate returned",
		run: func(f *fixture) {
			s := f.session(f.user().ID, func(s *store.Session) { s.Generation = 3 })
			now := at(time.Hour)
			got := f.rotate(advance(s, 3, now))
			want := s
			want.Generation, want.LastRefreshedAt, want.RefreshExpiresAt = 4, now, now.Add(refreshTTL)
			f.sameSession("Rotate result", got, want)
			f.unchanged(want)

			now = at(2 * time.Hour)
			got = f.rotate(advance(s, 4, now))
			want.Generation, want.LastRefreshedAt, want.RefreshExpiresAt = 5, now, now.Add(refreshTTL)
			f.sameSession("second Rotate result", got, want)
		},
	},
	{
		name: "Rotate/CappedAtAbsoluteExpiry",
		what: "the slid refresh expiry never passes the session's absolute expiry",
		run: func(f *fixture) {
			s := f.session(f.user().ID, func(s *store.Session) {
				s.RefreshExpiresAt = at(2 * time.Hour)
				s.AbsoluteExpiresAt = at(2 * time.Hour)
			})
			got := f.rotate(advance(s, 0, at(time.Hour)))
			f.report("Rotate near the absolute expiry", sameTime("RefreshExpiresAt", got.RefreshExpiresAt, at(2*time.Hour)))
		},
	},
	{
		name: "Rotate/WithoutAdvance",
		what: "with Advance false (rotation off) Rotate keeps the generation but slides the expiry and the last refresh time, so the same token refreshes again, while a newer generation is still stale",
		run: func(f *fixture) {
			s := f.session(f.user().ID, func(s *store.Session) { s.Generation = 3 })
			touch := func(gen int64, now time.Time) store.RotateParams {
				return store.RotateParams{SessionID: s.ID, Generation: gen, Now: now, RefreshTTL: refreshTTL}
			}
			want := s
			for _, now := range []time.Time{at(time.Hour), at(2 * time.Hour)} {
				got := f.rotate(touch(3, now))
				want.LastRefreshedAt, want.RefreshExpiresAt = now, now.Add(refreshTTL)
				f.sameSession("Rotate without advance", got, want)
			}
			f.stale(touch(4, at(3*time.Hour)))
			f.unchanged(want)
		},
	},
	{
		name: "Rotate/WrongGeneration",
		what: "Rotate with an older or a newer generation returns ErrStale and changes nothing, whether or not it would advance",
		run: func(f *fixture) {
			s := f.session(f.user().ID, func(s *store.Session) { s.Generation = 3 })
			for _, gen := range []int64{0, 2, 4, 100} {
				p := advance(s, gen, at(time.Hour))
				f.stale(p)
				p.Advance = false
				f.stale(p)
			}
			f.unchanged(s)
		},
	},
	{
		name: "Rotate/Revoked",
		what: "a revoked session does not rotate, even at its current generation, and stays as it was",
		run: func(f *fixture) {
			s := f.session(f.user().ID, func(s *store.Session) {
				s.RevokedAt, s.RevokeReason = at(time.Minute), "sign_out"
			})
			f.stale(advance(s, 0, at(time.Hour)))
			f.unchanged(s)
		},
	},
	{
		name: "Rotate/RefreshExpiryIsExact",
		what: "refresh expiry has no leeway: at exactly RefreshExpiresAt and after it Rotate returns ErrStale and changes nothing, a microsecond before it succeeds",
		run: func(f *fixture) {
			exp := at(time.Hour)
			s := f.session(f.user().ID, func(s *store.Session) { s.RefreshExpiresAt = exp })
			f.stale(advance(s, 0, exp))
			f.stale(advance(s, 0, exp.Add(time.Microsecond)))
			f.stale(advance(s, 0, exp.Add(48*time.Hour)))
			f.unchanged(s)
			f.rotate(advance(s, 0, exp.Add(-time.Microsecond)))
		},
	},
	{
		name: "Rotate/AbsoluteExpiry",
		what: "the absolute expiry is checked on its own: a record whose refresh expiry is (wrongly) later does not rotate at or after AbsoluteExpiresAt, and rotates a microsecond before with the new expiry capped at it",
		run: func(f *fixture) {
			abs := at(time.Hour)
			s := f.session(f.user().ID, func(s *store.Session) {
				s.AbsoluteExpiresAt = abs
				s.RefreshExpiresAt = abs.Add(time.Hour)
			})
			f.stale(advance(s, 0, abs))
			f.stale(advance(s, 0, abs.Add(time.Minute)))
			f.unchanged(s)
			got := f.rotate(advance(s, 0, abs.Add(-time.Microsecond)))
			f.report("Rotate just before the absolute expiry", sameTime("RefreshExpiresAt", got.RefreshExpiresAt, abs))
		},
	},
	{
		name: "Rotate/InactiveUser",
		what: "Rotate reads the user's status at the time of the refresh: an inactive user's session is stale and unchanged, and rotates again once the user is active",
		run: func(f *fixture) {
			u := f.user(func(u *store.User) { u.Status = store.UserInactive })
			s := f.session(u.ID)
			f.stale(advance(s, 0, at(time.Hour)))
			f.unchanged(s)
			u.Status, u.UpdatedAt = store.UserActive, at(2*time.Hour)
			if err := f.s.UpdateUser(f.ctx, u); err != nil {
				f.t.Fatalf("UpdateUser: %v", err)
			}
			f.rotate(advance(s, 0, at(3*time.Hour)))
		},
	},
	{
		name: "Rotate/MissingUser",
		what: "a session whose user does not exist does not rotate",
		run: func(f *fixture) {
			f.user()
			s := f.session(newID())
			f.stale(advance(s, 0, at(time.Hour)))
			f.unchanged(s)
		},
	},
	{
		name: "Rotate/SkipUserCheck",
		what: "with SkipUserCheck (the application keeps its users elsewhere) a session rotates whatever the users table says, and every other condition still holds",
		run: func(f *fixture) {
			s := f.session(newID()) // no user row at all
			p := advance(s, 0, at(time.Hour))
			p.SkipUserCheck = true
			got := f.rotate(p)
			p.Generation = got.Generation - 1 // the superseded generation stays stale
			f.stale(p)
		},
	},
	{
		name: "Rotate/UnknownSession",
		what: "rotating a session id that does not exist returns ErrStale (not ErrNotFound: the caller reads the session to learn why)",
		run: func(f *fixture) {
			u := f.user()
			f.session(u.ID)
			f.stale(advance(store.Session{ID: newID()}, 0, at(time.Hour)))
		},
	},
	{
		name: "Rotate/ReuseBuildingBlocks",
		what: "after a rotation the superseded generation is stale and changes nothing, and Session shows the new generation and the rotation time, which is what the domain compares with the reuse interval",
		run: func(f *fixture) {
			s := f.session(f.user().ID)
			rotatedAt := at(time.Hour)
			f.rotate(advance(s, 0, rotatedAt))
			for _, late := range []time.Duration{5 * time.Second, time.Hour} {
				f.stale(advance(s, 0, rotatedAt.Add(late)))
				got := f.get(s.ID)
				if got.Generation != 1 {
					f.t.Errorf("after presenting generation 0 again, Generation = %d, want 1", got.Generation)
				}
				f.report("after presenting generation 0 again", sameTime("LastRefreshedAt", got.LastRefreshedAt, rotatedAt))
			}
		},
	},
	{
		name: "Rotate/ParallelDoubleSpend",
		what: "when 32 callers rotate the same session at the same generation at once, exactly one succeeds, all others get ErrStale (no other error), and the generation advances by exactly one",
		run: func(f *fixture) {
			const n = 32
			s := f.session(f.user().ID, func(s *store.Session) { s.Generation = 7 })
			now := at(time.Hour)
			errs := make([]error, n)
			results := make([]store.Session, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					results[i], errs[i] = f.s.Rotate(f.ctx, advance(s, 7, now))
				})
			}
			close(start)
			wg.Wait()
			wins := 0
			for i, err := range errs {
				switch {
				case err == nil:
					wins++
					if results[i].Generation != 8 {
						f.t.Errorf("the winner got Generation %d, want 8", results[i].Generation)
					}
				case !errors.Is(err, store.ErrStale):
					f.t.Errorf("caller %d: %v, want success or ErrStale", i, err)
				}
			}
			if wins != 1 {
				f.t.Errorf("%d callers won the double spend, want exactly 1", wins)
			}
			want := s
			want.Generation, want.LastRefreshedAt, want.RefreshExpiresAt = 8, now, now.Add(refreshTTL)
			f.unchanged(want)
		},
	},
	{
		name: "Rotate/ParallelDistinctSessions",
		what: "32 callers each rotating their own session 8 times, all at once, all succeed: concurrent refreshes of different sessions never conflict and never surface a busy or locked database",
		run: func(f *fixture) {
			const n, rounds = 32, 8
			u := f.user()
			sessions := make([]store.Session, n)
			for i := range sessions {
				sessions[i] = f.session(u.ID)
			}
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, s := range sessions {
				wg.Go(func() {
					<-start
					for gen := range int64(rounds) {
						if _, err := f.s.Rotate(f.ctx, advance(s, gen, at(time.Duration(gen+1)*time.Minute))); err != nil {
							errs[i] = err
							return
						}
					}
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					f.t.Errorf("session %d: %v", i, err)
				}
			}
			for _, s := range sessions {
				if got := f.get(s.ID); got.Generation != rounds {
					f.t.Errorf("session %s: Generation = %d, want %d", s.ID, got.Generation, rounds)
				}
			}
		},
	},
}
