package client_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/client"
)

// The token endpoint is down (503, Retry-After: 30) while the access token
// is good for 25 more seconds: calls go on with it, and the 16 goroutines
// making them send one refresh per Retry-After, not one per call.
func TestOutageKeepsUsingValidAccessToken(t *testing.T) {
	fe := newFaultEnv(t)
	c := fe.signedIn(t, "outage@example.com")
	before := c.Tokens()
	fe.world.Advance(accessLifetime - 25*time.Second) // due for a refresh, valid for 25s
	fe.front.setAlways(down, "30")

	// calls makes 16 goroutines call GET /auth/me 5 times each, and
	// returns how many got 200 and the first error.
	calls := func() (int, error) {
		var (
			wg    sync.WaitGroup
			ok    atomic.Int32
			first atomic.Value
		)
		for range 16 {
			wg.Go(func() {
				for range 5 {
					status, err := fe.me(c)
					if err != nil {
						first.CompareAndSwap(nil, err)
					} else if status == http.StatusOK {
						ok.Add(1)
					}
				}
			})
		}
		wg.Wait()
		err, _ := first.Load().(error)
		return int(ok.Load()), err
	}

	if ok, err := calls(); ok != 80 || err != nil {
		t.Fatalf("%d of 80 calls succeeded during the outage (first error %v); want all, with the valid access token", ok, err)
	}
	if n := len(fe.front.refreshes()); n != 1 {
		t.Fatalf("%d refresh requests; want 1 per Retry-After", n)
	}
	fe.world.Advance(24 * time.Second) // 1s of validity left; still held
	if ok, _ := calls(); ok != 80 || len(fe.front.refreshes()) != 1 {
		t.Fatalf("%d calls succeeded and %d refreshes 24s later; want 80 and still 1", ok, len(fe.front.refreshes()))
	}

	// The access token has expired, and the hold has 4s to go: calls fail
	// at once with the last failure, worth retrying, and send nothing.
	fe.world.Advance(2 * time.Second)
	_, err := calls()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusServiceUnavailable || ce.RetryAfter != 30*time.Second || client.IsReauthRequired(err) {
		t.Fatalf("calls with an expired access token during the outage: %v; want the 503 with its Retry-After", err)
	}
	if n := len(fe.front.refreshes()); n != 1 {
		t.Fatalf("%d refresh requests before the Retry-After passed; want 1", n)
	}
	if c.Tokens() != before {
		t.Fatal("the client changed its tokens during the outage")
	}

	// The Retry-After has passed: one more try, still down.
	fe.world.Advance(4 * time.Second)
	if _, err := calls(); err == nil {
		t.Fatal("calls succeeded with an expired access token and the endpoint down")
	}
	if n := len(fe.front.refreshes()); n != 2 {
		t.Fatalf("%d refresh requests 30s into the outage; want 2", n)
	}

	// The endpoint is back: the next call after the hold refreshes, with
	// the token never traded during the outage.
	fe.front.setAlways(pass, "")
	fe.world.Advance(30 * time.Second)
	if ok, err := calls(); ok != 80 {
		t.Fatalf("%d of 80 calls succeeded after the outage (first error %v)", ok, err)
	}
	seen := fe.front.refreshes()
	if len(seen) != 3 || seen[2].token != before.RefreshToken || seen[2].status != http.StatusOK {
		t.Fatalf("%d refresh requests; want a third, answered 200", len(seen))
	}
	fe.noReuse(t)
}

// Refreshes that keep failing without a Retry-After are held for 1s, then
// 2s, ... (plus up to a quarter at random), between flights of at most
// four quick attempts, each inside the reuse interval.
func TestFailedRefreshesBackOff(t *testing.T) {
	fe := newFaultEnv(t)
	c := fe.signedIn(t, "backoff@example.com")
	fe.front.setAlways(down, "")

	// flight runs one refresh that fails: its first attempt and three
	// retries after 250ms, 500ms and 1s.
	flight := func() {
		t.Helper()
		done := make(chan error, 1)
		go func() { _, err := c.Refresh(t.Context()); done <- err }()
		for _, d := range []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second} {
			fe.world.AdvanceTimer(t, d)
		}
		if err := await(t, done, "Refresh"); !isCode(err, client.CodeUnavailable) {
			t.Fatalf("Refresh = %v; want the 503", err)
		}
	}
	refreshes := func() int { return len(fe.front.refreshes()) }

	flight()
	if n := refreshes(); n != 4 {
		t.Fatalf("%d requests in the first refresh; want 4", n)
	}
	for i, hold := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		fe.world.Advance(hold - time.Millisecond)
		// Held: the answer comes at once (a refresh would wait for timers
		// nobody advances, and time out here).
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err := c.Refresh(ctx)
		cancel()
		if !isCode(err, client.CodeUnavailable) || refreshes() != 4*(i+1) {
			t.Fatalf("Refresh %v after failure %d = %v with %d requests; want the held 503 and no request", hold, i+1, err, refreshes()-4*(i+1))
		}
		fe.world.Advance(hold/4 + time.Millisecond) // past any jitter
		flight()
		if n := refreshes(); n != 4*(i+2) {
			t.Fatalf("%d requests after failure %d's hold; want 4 more", n, i+1)
		}
	}
}
