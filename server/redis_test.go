package server_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/httpapi/ratelimit/redistest"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// startShared starts a server with rate limits on the shared Redis, under
// prefix, each with its own SQLite file (the limit is what they share).
func startShared(t *testing.T, redisURL, prefix string, set func(*config.Config)) *servertest.Server {
	t.Helper()
	cfg := servertest.Config(t)
	limits(func(c *config.Config) { c.RedisURL = redisURL; set(c) })(&cfg)
	return servertest.StartConfig(t, cfg, servertest.WithRedisKeyPrefix(prefix))
}

// TestRedisLimitsSharedByInstances: two instances behind one load balancer
// enforce one limit together — failures per account, sign-ins per IP and
// refreshes per IP counted on either are counted on both.
func TestRedisLimitsSharedByInstances(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, redistest.Client(t))
	set := func(c *config.Config) {
		c.RateLimitSigninFailuresAccount = config.Rate{Count: 3, Per: 15 * time.Minute}
		c.RateLimitSigninIP = config.Rate{Count: 6, Per: time.Minute}
		c.RateLimitRefreshIP = config.Rate{Count: 3, Per: time.Minute}
	}
	a, b := startShared(t, url, prefix, set), startShared(t, url, prefix, set)
	a.SignUp(t, "ann@example.com", pw)
	b.SignUp(t, "ann@example.com", pw)

	// Failures per account: two on a, one on b, then both refuse.
	wantStatus(t, signIn(t, a, "ann@example.com", "guess-1", "198.51.100.1"), 401)
	wantStatus(t, signIn(t, b, "ann@example.com", "guess-2", "198.51.100.2"), 401)
	wantStatus(t, signIn(t, a, "ann@example.com", "guess-3", "198.51.100.3"), 401)
	wantLimited(t, signIn(t, b, "ann@example.com", pw, "198.51.100.4"), 5*time.Minute)
	wantLimited(t, signIn(t, a, "ann@example.com", pw, "198.51.100.5"), 5*time.Minute)

	// Sign-ins per IP: one address spread over both instances.
	const ip = "192.0.2.50"
	a.SignUp(t, "bob@example.com", pw)
	b.SignUp(t, "bob@example.com", pw)
	var rts []string
	for i := range 6 {
		s := a
		if i%2 == 1 {
			s = b
		}
		r := signIn(t, s, "bob@example.com", pw, ip)
		wantStatus(t, r, 200)
		if i < 2 {
			rts = append(rts, r.Map(t)["refreshToken"].(string)) // one token from a, one from b
		}
	}
	wantLimited(t, signIn(t, a, "bob@example.com", pw, ip), 10*time.Second)
	wantLimited(t, signIn(t, b, "bob@example.com", pw, ip), 10*time.Second)

	// Refreshes per IP: each instance refreshes its own tokens (separate
	// databases), against one shared allowance.
	refresh := func(s *servertest.Server, rt string) *servertest.Response {
		return s.Do(t, "POST", "/token", map[string]string{"refreshToken": rt}, "X-Forwarded-For: "+ip)
	}
	ra := refresh(a, rts[0])
	wantStatus(t, ra, 200)
	wantStatus(t, refresh(b, rts[1]), 200)
	wantStatus(t, refresh(a, ra.Map(t)["refreshToken"].(string)), 200)
	wantLimited(t, refresh(b, rts[1]), 20*time.Second)

	// The clock that matters is the caller's: once both instances' clocks
	// pass the window, both allow again.
	a.Clock.Advance(5 * time.Minute)
	b.Clock.Advance(5 * time.Minute)
	wantStatus(t, signIn(t, b, "ann@example.com", pw, "198.51.100.6"), 200)
}

// TestRedisUnreachableFallsBackToMemory: a REDIS_URL that does not answer is
// no start-up failure and locks nobody out. The limits stay on, per instance,
// a warning says so (once, not per request), and the failures are counted.
func TestRedisUnreachableFallsBackToMemory(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "redis://" + ln.Addr().String() + "/0"
	ln.Close()
	s := servertest.Start(t, limits(func(c *config.Config) {
		c.RedisURL = dead
		c.RateLimitSigninFailuresIP = config.Rate{Count: 2, Per: time.Hour}
	}))
	s.SignUp(t, "ann@example.com", pw)
	wantStatus(t, signIn(t, s, "ann@example.com", pw, "192.0.2.1"), 200)
	wantStatus(t, signIn(t, s, "ann@example.com", "guess", "192.0.2.1"), 401)
	wantStatus(t, signIn(t, s, "ann@example.com", "guess", "192.0.2.1"), 401)
	wantLimited(t, signIn(t, s, "ann@example.com", pw, "192.0.2.1"), 30*time.Minute)
	wantStatus(t, signIn(t, s, "ann@example.com", pw, "192.0.2.2"), 200)

	logs := s.Logs.String()
	if !strings.Contains(logs, "Redis does not answer") {
		t.Error("no start-up warning about the unreachable Redis")
	}
	if n := strings.Count(logs, "rate limiter unavailable; limits are per instance"); n != 1 {
		t.Errorf("%d warnings about the failing limiter, want exactly 1 (rate-limited)", n)
	}
	if m := scrape(t, s); m["latchkey_rate_limiter_errors_total"] < 1 {
		t.Errorf("latchkey_rate_limiter_errors_total = %v, want > 0", m["latchkey_rate_limiter_errors_total"])
	}
}
