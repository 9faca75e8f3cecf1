package ratelimit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/httpapi/ratelimit"
	"github.com/latchkey-dev/latchkey/internal/testkit"
)

// newClock returns a hand-moved clock: tests pass time without sleeping.
func newClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
}

func newMemory(c *testkit.Clock, maxKeys int) *ratelimit.Memory {
	return ratelimit.NewMemory(ratelimit.MemoryOptions{MaxKeys: maxKeys, Now: c.Now})
}

func mustAllow(t *testing.T, l ratelimit.Limiter, key string, lim ratelimit.Limit) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := l.Allow(context.Background(), key, lim)
	if err != nil {
		t.Fatal(err)
	}
	return ok, retry
}

func TestAllowBurstThenRefill(t *testing.T) {
	c := newClock()
	m := newMemory(c, 0)
	lim := ratelimit.Limit{Count: 5, Per: 15 * time.Minute} // one token every 3m

	for i := range 5 {
		if ok, _ := mustAllow(t, m, "ip:1", lim); !ok {
			t.Fatalf("request %d refused within the burst", i+1)
		}
	}
	ok, retry := mustAllow(t, m, "ip:1", lim)
	if ok {
		t.Fatal("6th request allowed")
	}
	if retry != 3*time.Minute {
		t.Fatalf("retryAfter = %v, want 3m", retry)
	}
	// Another key is unaffected.
	if ok, _ := mustAllow(t, m, "ip:2", lim); !ok {
		t.Fatal("other key refused")
	}

	c.Advance(time.Minute)
	ok, retry = mustAllow(t, m, "ip:1", lim)
	if ok || retry != 2*time.Minute {
		t.Fatalf("after 1m: ok=%v retry=%v, want refused with 2m", ok, retry)
	}
	// Waiting exactly retryAfter is always enough.
	c.Advance(retry)
	if ok, _ := mustAllow(t, m, "ip:1", lim); !ok {
		t.Fatal("refused after waiting retryAfter")
	}
	if ok, _ := mustAllow(t, m, "ip:1", lim); ok {
		t.Fatal("second request allowed with no token left")
	}
}

func TestRetryAfterWaitIsSufficient(t *testing.T) {
	// Awkward rates must not leave the bucket a hair short of a token
	// after the advertised wait.
	for _, lim := range []ratelimit.Limit{
		{Count: 3, Per: time.Second},
		{Count: 7, Per: time.Minute},
		{Count: 1000, Per: time.Hour},
		{Count: 13, Per: 17 * time.Millisecond},
	} {
		t.Run(lim.String(), func(t *testing.T) {
			c := newClock()
			m := newMemory(c, 0)
			for i := 0; i < 50; i++ {
				ok, retry := mustAllow(t, m, "k", lim)
				if ok {
					continue
				}
				if retry <= 0 {
					t.Fatalf("refused with retryAfter %v", retry)
				}
				c.Advance(retry)
				if ok, _ := mustAllow(t, m, "k", lim); !ok {
					t.Fatalf("refused again after waiting %v", retry)
				}
			}
		})
	}
}

func TestCheckAndHitCountOnlyFailures(t *testing.T) {
	c := newClock()
	m := newMemory(c, 0)
	ctx := context.Background()
	lim := ratelimit.Limit{Count: 3, Per: time.Minute}

	// Checks consume nothing, and do not even create an entry.
	for range 10 {
		if ok, _, _ := m.Check(ctx, "acct", lim); !ok {
			t.Fatal("Check refused a fresh key")
		}
	}
	if m.Len() != 0 {
		t.Fatalf("Check created %d entries", m.Len())
	}
	for range 3 {
		if err := m.Hit(ctx, "acct", lim); err != nil {
			t.Fatal(err)
		}
	}
	ok, retry, err := m.Check(ctx, "acct", lim)
	if err != nil || ok || retry != 20*time.Second {
		t.Fatalf("after 3 failures: ok=%v retry=%v err=%v, want refused, 20s", ok, retry, err)
	}
	// A failure that raced past Check still counts, as debt.
	_ = m.Hit(ctx, "acct", lim)
	if _, retry, _ := m.Check(ctx, "acct", lim); retry != 40*time.Second {
		t.Fatalf("retry with debt = %v, want 40s", retry)
	}
	// Debt is capped at one whole allowance.
	for range 100 {
		_ = m.Hit(ctx, "acct", lim)
	}
	if _, retry, _ := m.Check(ctx, "acct", lim); retry > 2*time.Minute {
		t.Fatalf("retry after many hits = %v, want at most 2m", retry)
	}
}

func TestUnlimited(t *testing.T) {
	c := newClock()
	m := newMemory(c, 0)
	for _, lim := range []ratelimit.Limit{{}, {Count: 0, Per: time.Second}, {Count: 5}} {
		for range 100 {
			if ok, _ := mustAllow(t, m, "k", lim); !ok {
				t.Fatalf("%v refused", lim)
			}
		}
	}
	if m.Len() != 0 {
		t.Fatalf("unlimited calls created %d entries", m.Len())
	}
	var u ratelimit.Unbounded
	if ok, _, _ := u.Allow(context.Background(), "k", ratelimit.Limit{Count: 1, Per: time.Hour}); !ok {
		t.Fatal("Unbounded refused")
	}
}

func TestLimitChangeAppliesToExistingKey(t *testing.T) {
	c := newClock()
	m := newMemory(c, 0)
	mustAllow(t, m, "k", ratelimit.Limit{Count: 10, Per: time.Minute})
	mustAllow(t, m, "k", ratelimit.Limit{Count: 1, Per: time.Minute})
	if ok, _ := mustAllow(t, m, "k", ratelimit.Limit{Count: 1, Per: time.Minute}); ok {
		t.Fatal("burst of 1 allowed a second request")
	}
}

// TestBoundedUnderManyKeys is an attack from 100,000 addresses: the table
// never exceeds its bound, and when it has to choose, it forgets keys that
// are full again before keys that are still limited.
func TestBoundedUnderManyKeys(t *testing.T) {
	c := newClock()
	const maxKeys = 1000
	m := newMemory(c, maxKeys)
	lim := ratelimit.Limit{Count: 10, Per: time.Minute}

	for i := range 100_000 {
		mustAllow(t, m, fmt.Sprintf("ip:%d", i), lim)
		if n := m.Len(); n > maxKeys {
			t.Fatalf("after %d keys: %d entries, bound %d", i+1, n, maxKeys)
		}
	}

	// A limited key survives a flood of keys that are full again.
	m = newMemory(c, maxKeys)
	victim := ratelimit.Limit{Count: 1, Per: time.Hour}
	mustAllow(t, m, "acct:victim", victim)
	for i := range 100_000 {
		mustAllow(t, m, fmt.Sprintf("ip:%d", i), lim)
		c.Advance(10 * time.Millisecond) // older flood keys refill (6s) and may be dropped
	}
	if m.Len() > maxKeys {
		t.Fatalf("%d entries, bound %d", m.Len(), maxKeys)
	}
	if ok, _ := mustAllow(t, m, "acct:victim", victim); ok {
		t.Fatal("flood made the limited key forget its use")
	}
}

func TestDefaultBound(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts 150k keys")
	}
	c := newClock()
	m := newMemory(c, 0)
	lim := ratelimit.Limit{Count: 10, Per: time.Minute}
	for i := range ratelimit.DefaultMaxKeys + 50_000 {
		mustAllow(t, m, fmt.Sprintf("ip:%d", i), lim)
	}
	if m.Len() > ratelimit.DefaultMaxKeys {
		t.Fatalf("%d entries, bound %d", m.Len(), ratelimit.DefaultMaxKeys)
	}
}

func TestConcurrentAllowExact(t *testing.T) {
	c := newClock()
	m := newMemory(c, 0)
	lim := ratelimit.Limit{Count: 50, Per: time.Hour}
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Go(func() {
			for range 100 {
				ok, _, _ := m.Allow(context.Background(), "shared", lim)
				if ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 50 {
		t.Fatalf("%d allowed, want exactly 50", allowed)
	}
}

func BenchmarkAllow(b *testing.B) {
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	lim := ratelimit.Limit{Count: 1 << 30, Per: time.Second}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m.Allow(ctx, "ip:203.0.113.9", lim)
	}
}
