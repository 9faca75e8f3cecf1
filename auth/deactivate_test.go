package auth_test

import (
	"testing"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/auth/authtest"
	"github.com/latchkey-dev/latchkey/store"
)

// TestDeactivationIsAllOrNothing: deactivating a user makes it inactive and
// revokes its sessions together. Made to fail half way (the database
// refuses to revoke sessions), it must change nothing: never leave an
// inactive user beside a session that CheckSession still accepts until the
// next refresh.
func TestDeactivationIsAllOrNothing(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			st, refuseRevocations := b.open(t)
			e := authtest.New(t, st, nil)
			g := e.SignIn(t, "a@example.com")
			p, err := e.Service.Authenticate(ctx, g.AccessToken)
			if err != nil {
				t.Fatal(err)
			}

			refuseRevocations(true)
			if _, err := e.Service.SetUserActive(ctx, "a@example.com", false); err == nil {
				t.Fatal("deactivation succeeded though the database refused to revoke the sessions")
			}
			refuseRevocations(false)
			u, err := st.UserByID(ctx, g.User.ID)
			if err != nil {
				t.Fatal(err)
			}
			if u.Status != store.UserActive {
				t.Fatalf("a failed deactivation left the user %s, and CheckSession answers %v for its session: half done", u.Status, e.Service.CheckSession(ctx, p))
			}

			if _, err := e.Service.SetUserActive(ctx, "a@example.com", false); err != nil {
				t.Fatal(err)
			}
			authtest.WantCode(t, e.Service.CheckSession(ctx, p), auth.CodeSessionRevoked)
		})
	}
}
