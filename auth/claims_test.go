package auth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/auth/authtest"
	"github.com/latchkey-dev/latchkey/internal/testkit"
)

// claimsCalls records what the claims hook was given.
type claimsCalls struct {
	mu    sync.Mutex
	users []*auth.User
}

func (c *claimsCalls) hook(_ context.Context, userID string, u *auth.User) (map[string]any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users = append(c.users, u)
	return map[string]any{"who": userID}, nil
}

func (c *claimsCalls) last(t *testing.T) *auth.User {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.users) == 0 {
		t.Fatal("the claims hook was not called")
	}
	return c.users[len(c.users)-1]
}

// The claims hook receives the user's record whenever the call has just
// read it (sign-in; renewal; a refresh with the application's own Users),
// without its password hash, and nil when it has not (a refresh with the
// built-in users reads no user row).
func TestClaimsHookReceivesTheUser(t *testing.T) {
	for _, tc := range []struct {
		name         string
		own          bool
		refreshGetsU bool
	}{
		{"built-in users", false, false},
		{"application's users", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := &claimsCalls{}
			clk := testkit.NewClock(authtest.Epoch)
			var users *bcryptUsers
			svc := authtest.Service(t, openSQLite(t), clk.Now, func(o *auth.Options) {
				o.Claims = calls.hook
				o.Policy.AccessRenewal = true
				if tc.own {
					users = newBcryptUsers(t)
					o.Users = users
				}
			})
			ctx := context.Background()
			email, pw := "ann@example.com", "correct horse"
			if !tc.own {
				if _, err := svc.SignUp(ctx, email, pw); err != nil {
					t.Fatal(err)
				}
			}
			g, err := svc.SignIn(ctx, email, pw, auth.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			u := calls.last(t)
			if u == nil || u.ID != g.Session.UserID || u.Email != email || u.Status != auth.UserActive || u.PasswordHash != "" {
				t.Fatalf("sign-in: the hook got %+v; want the user without its password hash", u)
			}
			clk.Advance(time.Minute)
			g, err = svc.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if u := calls.last(t); (u != nil) != tc.refreshGetsU || (u != nil && (u.ID != g.Session.UserID || u.PasswordHash != "")) {
				t.Fatalf("refresh: the hook got %+v; want a record: %v", u, tc.refreshGetsU)
			}
			if _, err := svc.RenewAccess(ctx, g.AccessToken); err != nil {
				t.Fatal(err)
			}
			if u := calls.last(t); u == nil || u.ID != g.Session.UserID {
				t.Fatalf("renewal: the hook got %+v; want the user", u)
			}
		})
	}
}
