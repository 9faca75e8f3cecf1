package ratelimit_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/httpapi/ratelimit"
	"github.com/latchkey-dev/latchkey/httpapi/ratelimit/redistest"
	"github.com/latchkey-dev/latchkey/internal/testkit"
)

// contract is what every Limiter must do, as a table of cases, each run on a
// fresh limiter whose clock the case moves by hand. Memory and Redis both
// run it, which is what makes them interchangeable.
var contract = []struct {
	name string
	run  func(t *testing.T, l ratelimit.Limiter, c *testkit.Clock)
}{
	{"burst, then one token per Per/Count, and retryAfter is exact", func(t *testing.T, l ratelimit.Limiter, c *testkit.Clock) {
		lim := ratelimit.Limit{Count: 5, Per: 15 * time.Minute}
		for i := range 5 {
			if ok, _ := mustAllow(t, l, "ip:1", lim); !ok {
				t.Fatalf("request %d refused within the burst", i+1)
			}
		}
		if ok, retry := mustAllow(t, l, "ip:1", lim); ok || retry != 3*time.Minute {
			t.Fatalf("6th: ok=%v retry=%v, want refused, 3m", ok, retry)
		}
		c.Advance(time.Minute)
		if ok, retry := mustAllow(t, l, "ip:1", lim); ok || retry != 2*time.Minute {
			t.Fatalf("after 1m: ok=%v retry=%v, want refused, 2m", ok, retry)
		}
		c.Advance(2 * time.Minute)
		if ok, _ := mustAllow(t, l, "ip:1", lim); !ok {
			t.Fatal("refused after waiting retryAfter")
		}
		if ok, _ := mustAllow(t, l, "ip:1", lim); ok {
			t.Fatal("allowed with no token left")
		}
		c.Advance(15 * time.Minute)
		for i := range 5 {
			if ok, _ := mustAllow(t, l, "ip:1", lim); !ok {
				t.Fatalf("after a full Per, request %d refused", i+1)
			}
		}
	}},
	{"keys are independent", func(t *testing.T, l ratelimit.Limiter, c *testkit.Clock) {
		lim := ratelimit.Limit{Count: 1, Per: time.Hour}
		mustAllow(t, l, "ip:1", lim)
		if ok, _ := mustAllow(t, l, "ip:2", lim); !ok {
			t.Fatal("another key was refused")
		}
	}},
	{"waiting retryAfter always suffices, for awkward rates too", func(t *testing.T, l ratelimit.Limiter, c *testkit.Clock) {
		for _, lim := range []ratelimit.Limit{{Count: 3, Per: time.Second}, {Count: 7, Per: time.Minute},
			{Count: 1000, Per: time.Hour}, {Count: 13, Per: 17 * time.Millisecond}} {
			key := "k:" + lim.String()
			for range 40 {
				ok, retry := mustAllow(t, l, key, lim)
				if ok {
					continue
				}
				if retry <= 0 {
					t.Fatalf("%v: refused with retryAfter %v", lim, retry)
				}
				c.Advance(retry)
				if ok, _ := mustAllow(t, l, key, lim); !ok {
					t.Fatalf("%v: refused again after waiting %v", lim, retry)
				}
			}
		}
	}},
	{"Check consumes nothing; Hit counts failures and goes into capped debt", func(t *testing.T, l ratelimit.Limiter, c *testkit.Clock) {
		ctx := context.Background()
		lim := ratelimit.Limit{Count: 3, Per: time.Minute}
		for range 10 {
			if ok, _, err := l.Check(ctx, "acct", lim); err != nil || !ok {
				t.Fatalf("Check of a fresh key: ok=%v err=%v", ok, err)
			}
		}
		for range 3 {
			if err := l.Hit(ctx, "acct", lim); err != nil {
				t.Fatal(err)
			}
		}
		if ok, retry, err := l.Check(ctx, "acct", lim); err != nil || ok || retry != 20*time.Second {
			t.Fatalf("after 3 failures: ok=%v retry=%v err=%v, want refused, 20s", ok, retry, err)
		}
		_ = l.Hit(ctx, "acct", lim)
		if _, retry, _ := l.Check(ctx, "acct", lim); retry != 40*time.Second {
			t.Fatalf("retry with debt = %v, want 40s", retry)
		}
		for range 100 {
			_ = l.Hit(ctx, "acct", lim)
		}
		if _, retry, _ := l.Check(ctx, "acct", lim); retry > 2*time.Minute {
			t.Fatalf("retry after many hits = %v, want at most 2m", retry)
		}
		c.Advance(3 * time.Minute)
		if ok, _, _ := l.Check(ctx, "acct", lim); !ok {
			t.Fatal("still refused after the capped debt was repaid")
		}
	}},
	{"a non-positive Count or Per limits nothing", func(t *testing.T, l ratelimit.Limiter, c *testkit.Clock) {
		for _, lim := range []ratelimit.Limit{{}, {Count: 0, Per: time.Second}, {Count: 5}} {
			for range 20 {
				if ok, _ := mustAllow(t, l, "k", lim); !ok {
					t.Fatalf("%v refused", lim)
				}
			}
		}
	}},
	{"a changed Limit applies to an existing key", func(t *testing.T, l ratelimit.Limiter, c *testkit.Clock) {
		mustAllow(t, l, "k", ratelimit.Limit{Count: 10, Per: time.Minute})
		mustAllow(t, l, "k", ratelimit.Limit{Count: 1, Per: time.Minute})
		if ok, _ := mustAllow(t, l, "k", ratelimit.Limit{Count: 1, Per: time.Minute}); ok {
			t.Fatal("burst of 1 allowed a second request")
		}
	}},
	{"concurrent Allow never grants more than the burst", func(t *testing.T, l ratelimit.Limiter, c *testkit.Clock) {
		lim := ratelimit.Limit{Count: 50, Per: time.Hour}
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 25 {
					if ok, _, err := l.Allow(context.Background(), "shared", lim); err == nil && ok {
						allowed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if n := allowed.Load(); n != 50 {
			t.Fatalf("%d allowed, want exactly 50", n)
		}
	}},
}

func runContract(t *testing.T, newLimiter func(t *testing.T, c *testkit.Clock) ratelimit.Limiter) {
	for _, tc := range contract {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			tc.run(t, newLimiter(t, c), c)
		})
	}
}

func TestMemoryContract(t *testing.T) {
	runContract(t, func(t *testing.T, c *testkit.Clock) ratelimit.Limiter { return newMemory(c, 0) })
}

func TestRedisContract(t *testing.T) {
	rc := redistest.Client(t)
	runContract(t, func(t *testing.T, c *testkit.Clock) ratelimit.Limiter {
		return ratelimit.NewRedis(rc, ratelimit.RedisOptions{Prefix: redistest.Prefix(t, rc), Now: c.Now})
	})
}

// TestRedisKeys checks what the limiter leaves in Redis: keys under the
// prefix, none written by Check, and each expiring when its bucket is full
// again.
func TestRedisKeys(t *testing.T) {
	rc := redistest.Client(t)
	ctx := context.Background()
	c := newClock()
	prefix := redistest.Prefix(t, rc)
	l := ratelimit.NewRedis(rc, ratelimit.RedisOptions{Prefix: prefix, Now: c.Now})
	lim := ratelimit.Limit{Count: 10, Per: time.Minute} // 6s per token

	if ok, _, err := l.Check(ctx, "acct:x", lim); err != nil || !ok {
		t.Fatalf("Check: ok=%v err=%v", ok, err)
	}
	if n := rc.Exists(ctx, prefix+"acct:x").Val(); n != 0 {
		t.Fatal("Check wrote a key")
	}
	for range 3 {
		mustAllow(t, l, "ip:1", lim)
	}
	ttl := rc.PTTL(ctx, prefix+"ip:1").Val()
	if ttl <= 0 || ttl > 18*time.Second {
		t.Fatalf("TTL after 3 of 10 = %v, want (0, 18s]: the time until the bucket is full again", ttl)
	}
}

// TestRedisSharedBetweenInstances is two instances (two clients, two
// limiters, clocks a few milliseconds apart) enforcing one limit together.
func TestRedisSharedBetweenInstances(t *testing.T) {
	c := newClock()
	prefix := redistest.Prefix(t, redistest.Client(t))
	skewed := func() time.Time { return c.Now().Add(3 * time.Millisecond) }
	a := ratelimit.NewRedis(redistest.Client(t), ratelimit.RedisOptions{Prefix: prefix, Now: c.Now})
	b := ratelimit.NewRedis(redistest.Client(t), ratelimit.RedisOptions{Prefix: prefix, Now: skewed})
	lim := ratelimit.Limit{Count: 4, Per: time.Minute}
	for i := range 4 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if ok, _ := mustAllow(t, l, "ip:shared", lim); !ok {
			t.Fatalf("request %d refused within the shared burst", i+1)
		}
	}
	for _, l := range []ratelimit.Limiter{a, b} {
		if ok, retry := mustAllow(t, l, "ip:shared", lim); ok || retry <= 0 || retry > 15*time.Second {
			t.Fatalf("5th request: ok=%v retry=%v, want refused within 15s", ok, retry)
		}
	}
}

// TestRedisUnreachable: a Redis that does not answer is an error wrapping
// ErrUnavailable (the caller fails open), and the limiter then backs off
// instead of paying a connection attempt on every call.
func TestRedisUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	rc, err := ratelimit.NewRedisClient("redis://" + addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	c := newClock()
	l := ratelimit.NewRedis(rc, ratelimit.RedisOptions{Now: c.Now})
	lim := ratelimit.Limit{Count: 1, Per: time.Minute}
	ctx := context.Background()

	_, _, err = l.Allow(ctx, "k", lim)
	if !errors.Is(err, ratelimit.ErrUnavailable) {
		t.Fatalf("Allow: %v, want ErrUnavailable", err)
	}
	attempts := rc.PoolStats().Misses
	if _, _, err := l.Check(ctx, "k", lim); !errors.Is(err, ratelimit.ErrUnavailable) {
		t.Fatalf("Check while backing off: %v", err)
	}
	if err := l.Hit(ctx, "k", lim); !errors.Is(err, ratelimit.ErrUnavailable) {
		t.Fatalf("Hit while backing off: %v", err)
	}
	if n := rc.PoolStats().Misses; n != attempts {
		t.Fatalf("%d connection attempts while backing off, want none", n-attempts)
	}
	c.Advance(ratelimit.DefaultRedisBackoff)
	if _, _, err := l.Allow(ctx, "k", lim); !errors.Is(err, ratelimit.ErrUnavailable) {
		t.Fatalf("Allow after the backoff: %v", err)
	}
	if rc.PoolStats().Misses == attempts {
		t.Fatal("no new attempt after the backoff")
	}
}

func TestNewRedisClientHidesURL(t *testing.T) {
	_, err := ratelimit.NewRedisClient("http://:hunter2@cache:6379")
	if err == nil {
		t.Fatal("accepted an http:// URL")
	}
	if s := err.Error(); strings.Contains(s, "hunter2") {
		t.Fatalf("error repeats the password: %s", s)
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	rc := redistest.Client(b)
	l := ratelimit.NewRedis(rc, ratelimit.RedisOptions{Prefix: redistest.Prefix(b, rc)})
	lim := ratelimit.Limit{Count: 1 << 30, Per: time.Second}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := l.Allow(ctx, "ip:203.0.113.9", lim); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisAllowParallel(b *testing.B) {
	rc := redistest.Client(b)
	l := ratelimit.NewRedis(rc, ratelimit.RedisOptions{Prefix: redistest.Prefix(b, rc)})
	lim := ratelimit.Limit{Count: 1 << 30, Per: time.Second}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := l.Allow(context.Background(), "ip:203.0.113.9", lim); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
