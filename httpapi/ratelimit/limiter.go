package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// Limit allows Count events per Per, as a token bucket: a key starts with
// Count tokens (the burst), each event takes one, and tokens come back
// evenly, one every Per/Count. "5 per 15m" therefore allows 5 at once, then
// one more every 3 minutes. A Limit whose Count or Per is not positive is no
// limit at all (the way a setting switches one limit off).
type Limit struct {
	Count int
	Per   time.Duration
}

// Unlimited reports whether l limits nothing.
func (l Limit) Unlimited() bool { return l.Count <= 0 || l.Per <= 0 }

func (l Limit) String() string {
	if l.Unlimited() {
		return "unlimited"
	}
	return fmt.Sprintf("%d per %s", l.Count, l.Per)
}

// Limiter counts events per key. Implementations must be safe for
// concurrent use; a key's state must not depend on the Limit values used
// for other keys. A Limiter that cannot reach its store returns an error
// and the caller chooses whether to fail open or closed.
//
// Two ways to use it:
//
//   - Every request counts (sign-ins per IP, refreshes per IP): call Allow
//     and refuse when ok is false.
//   - Only failures count (failed sign-ins per account): call Check before
//     doing the work and refuse when ok is false; call Hit after a failure.
//     Successes cost nothing, so a user who types the password right is
//     never locked out by the limit.
type Limiter interface {
	// Allow takes one event from key's allowance. When none is left it
	// takes nothing and returns ok false and how long until one is.
	Allow(ctx context.Context, key string, l Limit) (ok bool, retryAfter time.Duration, err error)
	// Check reports what Allow would answer now, without taking anything.
	Check(ctx context.Context, key string, l Limit) (ok bool, retryAfter time.Duration, err error)
	// Hit takes one event from key's allowance, even when none is left (the
	// event has already happened). Concurrent failures that all passed
	// Check therefore push the key into debt and lengthen its wait;
	// implementations may cap the debt.
	Hit(ctx context.Context, key string, l Limit) error
}

// Unbounded is a Limiter that allows everything (RATE_LIMITS=off).
type Unbounded struct{}

var _ Limiter = Unbounded{}

// Allow always allows.
func (Unbounded) Allow(context.Context, string, Limit) (bool, time.Duration, error) {
	return true, 0, nil
}

// Check always allows.
func (Unbounded) Check(context.Context, string, Limit) (bool, time.Duration, error) {
	return true, 0, nil
}

// Hit counts nothing.
func (Unbounded) Hit(context.Context, string, Limit) error { return nil }
