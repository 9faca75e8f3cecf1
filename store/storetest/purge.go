package storetest

import (
	"errors"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

var purgeCases = []testCase{
	{
		name: "Purge/Sessions",
		what: "Purge deletes the sessions revoked or expired (refresh or absolute) strictly before the cutoff, returns how many, and keeps sessions revoked or expiring at or after it and live ones",
		run: func(f *fixture) {
			u := f.user()
			cut := at(12 * time.Hour) // before the default refresh and absolute expiries
			gone := []store.Session{
				f.session(u.ID, func(s *store.Session) { s.RevokedAt, s.RevokeReason = cut.Add(-time.Hour), "sign_out" }),
				f.session(u.ID, func(s *store.Session) { s.RefreshExpiresAt = cut.Add(-time.Microsecond) }),
				f.session(u.ID, func(s *store.Session) {
					s.RefreshExpiresAt, s.AbsoluteExpiresAt = cut.Add(time.Hour), cut.Add(-time.Hour)
				}),
			}
			kept := []store.Session{
				f.session(u.ID, func(s *store.Session) { s.RevokedAt, s.RevokeReason = cut, "sign_out" }),
				f.session(u.ID, func(s *store.Session) { s.RevokedAt, s.RevokeReason = cut.Add(time.Hour), "sign_out" }),
				f.session(u.ID, func(s *store.Session) { s.RefreshExpiresAt = cut }),
				f.session(u.ID, func(s *store.Session) {
					s.RefreshExpiresAt, s.AbsoluteExpiresAt = cut.Add(time.Hour), cut.Add(2*time.Hour)
				}),
				f.session(u.ID, refreshedAt(cut)),
			}
			n, err := f.s.Purge(f.ctx, cut, cut)
			if err != nil {
				f.t.Fatalf("Purge: %v", err)
			}
			if n != int64(len(gone)) {
				f.t.Errorf("Purge deleted %d sessions, want %d", n, len(gone))
			}
			for _, s := range gone {
				if _, err := f.s.Session(f.ctx, s.ID); !errors.Is(err, store.ErrNotFound) {
					f.t.Errorf("Session(%s) after Purge: error %v, want ErrNotFound", s.ID, err)
				}
			}
			for _, s := range kept {
				f.unchanged(s)
			}
			if n, err := f.s.Purge(f.ctx, cut, cut); err != nil || n != 0 {
				f.t.Errorf("second Purge = %d, %v; want 0, nil", n, err)
			}
		},
	},
	{
		name: "Purge/SigningKeys",
		what: "Purge deletes signing keys retired strictly before keyRetiredBefore and keeps later-retired keys and the active key, whatever the cutoff",
		run: func(f *fixture) {
			cut := at(90 * 24 * time.Hour)
			k1 := f.signingKey("k1", at(0))
			k2 := f.signingKey("k2", cut.Add(-time.Hour)) // retires k1 before the cutoff
			k3 := f.signingKey("k3", cut)                 // retires k2 at the cutoff
			k1.RetiredAt, k2.RetiredAt = k2.CreatedAt, k3.CreatedAt
			if _, err := f.s.Purge(f.ctx, at(0), cut); err != nil {
				f.t.Fatalf("Purge: %v", err)
			}
			f.keys("keys after Purge", k3, k2)
			if _, err := f.s.Purge(f.ctx, at(0), at(1000*24*time.Hour)); err != nil {
				f.t.Fatalf("Purge: %v", err)
			}
			f.keys("keys after a Purge of every retired key", k3)
		},
	},
}
