package storetest

import (
	"context"
	"sync"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

var deactivateCases = []testCase{
	{
		name: "DeactivateUser/RevokesEverySession",
		what: "DeactivateUser makes the user inactive (UpdatedAt = now, nothing else changed), revokes every session of the user not revoked yet (expired ones too) at now for the reason, keeps an earlier revocation as it was, touches no other user's session, and counts what it revoked",
		run: func(f *fixture) {
			u, other := f.user(), f.user()
			live := f.session(u.ID)
			expired := f.session(u.ID, refreshedAt(at(-48*time.Hour)))
			signedOut := f.session(u.ID)
			f.revoke(store.RevokeParams{SessionID: signedOut.ID, Reason: "signed_out", Now: at(time.Minute)}, 1)
			theirs := f.session(other.ID)
			now := at(time.Hour)
			n, err := f.s.DeactivateUser(f.ctx, u.ID, "user_deactivated", now)
			if err != nil || n != 2 {
				f.t.Fatalf("DeactivateUser = %d, %v; want 2 sessions revoked", n, err)
			}
			want := u
			want.Status, want.UpdatedAt = store.UserInactive, now
			got, err := f.s.UserByID(f.ctx, u.ID)
			if err != nil {
				f.t.Fatalf("UserByID: %v", err)
			}
			f.sameUser("deactivated user", got, want)
			f.unchanged(revokedAt(live, now, "user_deactivated"))
			f.unchanged(revokedAt(expired, now, "user_deactivated"))
			f.unchanged(revokedAt(signedOut, at(time.Minute), "signed_out"))
			f.unchanged(theirs)
			if got, err := f.s.UserByID(f.ctx, other.ID); err != nil || got.Status != store.UserActive {
				f.t.Errorf("the other user: %+v, %v; want it active", got, err)
			}
		},
	},
	{
		name: "DeactivateUser/UnknownUser",
		what: "deactivating an unknown user returns ErrNotFound and revokes nothing",
		run: func(f *fixture) {
			s := f.session(f.user().ID)
			_, err := f.s.DeactivateUser(f.ctx, newID(), "user_deactivated", at(time.Hour))
			f.wantErr("DeactivateUser(unknown)", err, store.ErrNotFound)
			f.unchanged(s)
		},
	},
	{
		name: "DeactivateUser/NoWindow",
		what: "a reader running beside DeactivateUser never finds the user inactive while one of its sessions is not revoked yet: the two changes become visible together",
		run: func(f *fixture) {
			for range 20 {
				u := f.user()
				var sessions []store.Session
				for range 4 {
					sessions = append(sessions, f.session(u.ID))
				}
				ctx, stop := context.WithCancel(f.ctx)
				var wg sync.WaitGroup
				var seen string
				wg.Go(func() { seen = watchDeactivation(ctx, f.s, u.ID, sessions) })
				if _, err := f.s.DeactivateUser(f.ctx, u.ID, "user_deactivated", at(time.Hour)); err != nil {
					f.t.Fatalf("DeactivateUser: %v", err)
				}
				stop()
				wg.Wait()
				if seen != "" {
					f.t.Fatal(seen)
				}
			}
		},
	},
}

// watchDeactivation reads the user, then its sessions, over and over until
// ctx ends, and describes the first time it found the user inactive beside a
// session read afterwards that was not revoked ("" if never).
func watchDeactivation(ctx context.Context, s store.Store, userID string, sessions []store.Session) string {
	for ctx.Err() == nil {
		u, err := s.UserByID(ctx, userID)
		if err != nil || u.Status != store.UserInactive {
			continue
		}
		for _, x := range sessions {
			if got, err := s.Session(ctx, x.ID); err == nil && !got.Revoked() {
				return "the user was inactive while its session " + x.ID + " was not revoked yet"
			}
		}
		return ""
	}
	return ""
}
