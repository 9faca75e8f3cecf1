package auth_test

import (
	"context"
	"testing"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/auth/authtest"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/store"
)

// leavingUsers is an application's user backend whose password check ends
// the request's context (its client half-closed the connection while the
// password was checked) and finds the password wrong.
type leavingUsers struct {
	auth.Users
	leave context.CancelFunc
}

func (u leavingUsers) VerifyPassword(context.Context, auth.User, string) (bool, error) {
	u.leave()
	return false, nil
}

// ctxThrottle records whether the context a failure was counted under had
// already ended.
type ctxThrottle struct{ counted, ended int }

func (c *ctxThrottle) AllowSignIn(context.Context, string, string) error { return nil }
func (c *ctxThrottle) AllowRefresh(context.Context, string) error        { return nil }
func (c *ctxThrottle) SignInFailed(ctx context.Context, _, _ string) {
	c.counted++
	if ctx.Err() != nil {
		c.ended++
	}
}

// A failed sign-in is handed to the Throttle under a context that the
// request's end does not cancel, whatever Throttle the application plugs
// in: net/http cancels a request's context when its client half-closes the
// connection and still writes the 401 to it, so a Throttle handed that
// context (a Redis counter, any network call) could not count the guess,
// and the client could read the outcome of every guess uncounted.
func TestSignInFailureReachesTheThrottleAfterTheClientLeft(t *testing.T) {
	st, _ := backends[0].open(t)
	ctx, leave := context.WithCancel(t.Context())
	defer leave()
	th := &ctxThrottle{}
	svc := authtest.Service(t, st, testkit.NewClock(t0).Now, func(o *auth.Options) {
		o.Users = leavingUsers{Users: auth.StoreUsers(st, o.Hasher), leave: leave}
		o.Throttle = th
	})
	if err := st.CreateUser(t.Context(), store.User{ID: "0190f000-0000-7000-8000-00000000000b", Email: "b@example.com",
		PasswordHash: "unused", Status: store.UserActive, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SignIn(ctx, "b@example.com", "a-wrong-password", auth.Meta{IP: "192.0.2.9"}); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatalf("sign-in = %v, want invalid_credentials", err)
	}
	if th.counted != 1 || th.ended != 0 {
		t.Errorf("%d failures counted, %d of them under a context that had ended; want 1, 0", th.counted, th.ended)
	}
}
