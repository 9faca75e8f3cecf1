package ratelimit_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi/ratelimit"
	"github.com/latchkey-dev/latchkey/httpapi/ratelimit/redistest"
)

type countErrs struct{ errs atomic.Int64 }

func (c *countErrs) RateLimited(string) {}
func (c *countErrs) LimiterError()      { c.errs.Add(1) }

// A failed sign-in is counted even when its request's context has ended by
// the time the failure is known. net/http cancels a request's context as
// soon as the client half-closes its connection (or leaves), yet still
// writes the answer to a half-closed one: a client that half-closes while
// its password is being checked reads its 401 all the same. Counted under
// the request's context, the failure never reached the shared Redis (the
// call failed at once), so such a client guessed passwords for an account
// without ever meeting the per-account limit, and each guess was logged and
// counted as a limiter outage.
func TestSignInFailureCountedAfterTheClientLeft(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	lim := ratelimit.DefaultLimits()
	lim.SigninFailuresPerAccount = ratelimit.Limit{Count: 3, Per: time.Hour}
	obs := &countErrs{}
	th := ratelimit.NewThrottle(ratelimit.ThrottleOptions{Limits: lim,
		Limiter:  ratelimit.NewRedis(c, ratelimit.RedisOptions{Prefix: prefix}),
		Fallback: ratelimit.NewMemory(ratelimit.MemoryOptions{}), // as the server configures it
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)), Observer: obs})
	const email, ip = "victim@example.com", "192.0.2.7"
	for i := range 3 {
		if err := th.AllowSignIn(context.Background(), email, ip); err != nil {
			t.Fatalf("attempt %d refused before any failure was counted: %v", i, err)
		}
		gone, cancel := context.WithCancel(context.Background())
		cancel() // the client half-closed while its password was checked
		th.SignInFailed(gone, email, ip)
	}
	var ae *auth.Error
	if err := th.AllowSignIn(context.Background(), email, ip); !errors.As(err, &ae) || ae.Code != auth.CodeRateLimited {
		t.Errorf("after 3 failed sign-ins whose clients had left, the 4th = %v; want it refused (rate_limited)", err)
	}
	// A check whose client has already left is no limiter outage either.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	_ = th.AllowSignIn(gone, "other@example.com", "192.0.2.8")
	if n := obs.errs.Load(); n != 0 {
		t.Errorf("%d limiter errors counted for clients that left; Redis never failed", n)
	}
}
