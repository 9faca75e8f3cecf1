package server_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

const pw = "correct horse battery"

// behindProxy trusts the test client's own address as a proxy, so each
// request's X-Forwarded-For names the client: one test machine plays many
// clients.
func behindProxy(c *config.Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
}

// limits returns a mod that switches rate limits on with every limit
// generous except those set by set.
func limits(set func(c *config.Config)) func(*config.Config) {
	return func(c *config.Config) {
		c.RateLimits = true
		c.RateLimitSigninFailuresAccount = config.Rate{Count: 1000, Per: time.Minute}
		c.RateLimitSigninFailuresIP = config.Rate{Count: 1000, Per: time.Minute}
		c.RateLimitSigninIP = config.Rate{Count: 1000, Per: time.Minute}
		c.RateLimitRefreshIP = config.Rate{Count: 1000, Per: time.Minute}
		c.RateLimitSignupIP = config.Rate{Count: 1000, Per: time.Minute}
		c.RateLimitSignupGlobal = config.Rate{Count: 1000, Per: time.Minute}
		behindProxy(c)
		set(c)
	}
}

func signIn(t *testing.T, s *servertest.Server, email, password, ip string) *servertest.Response {
	t.Helper()
	return s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": email, "password": password}, "X-Forwarded-For: "+ip)
}

func oauthPassword(t *testing.T, s *servertest.Server, email, password, ip string) *servertest.Response {
	t.Helper()
	v := url.Values{"grant_type": {"password"}, "username": {email}, "password": {password}}
	return s.Do(t, "POST", "/oauth/token", v.Encode(), "Content-Type: application/x-www-form-urlencoded", "X-Forwarded-For: "+ip)
}

// wantLimited checks a canonical 429: {"error":"rate_limited"}, Retry-After
// of want (rounded up to whole seconds), no-store.
func wantLimited(t *testing.T, r *servertest.Response, want time.Duration) {
	t.Helper()
	if r.Status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %s", r.Status, r.Body)
	}
	if m := r.Map(t); m["error"] != "rate_limited" || m["message"] == "" {
		t.Fatalf("body %s, want error rate_limited with a message", r.Body)
	}
	wantRetryAfter(t, r, want)
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
	}
}

// wantSlowDown checks an OAuth 2.0 429: error slow_down, error_reason
// rate_limited.
func wantSlowDown(t *testing.T, r *servertest.Response, want time.Duration) {
	t.Helper()
	if r.Status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %s", r.Status, r.Body)
	}
	if m := r.Map(t); m["error"] != "slow_down" || m["error_reason"] != "rate_limited" {
		t.Fatalf("body %s, want slow_down / rate_limited", r.Body)
	}
	wantRetryAfter(t, r, want)
}

func wantRetryAfter(t *testing.T, r *servertest.Response, want time.Duration) {
	t.Helper()
	got, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || time.Duration(got)*time.Second != want {
		t.Fatalf("Retry-After %q, want %d", r.Header.Get("Retry-After"), int(want.Seconds()))
	}
}

func wantStatus(t *testing.T, r *servertest.Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
}

// TestSignInFailuresPerAccount is password guessing against one account
// from many addresses (a botnet): after RATE_LIMIT_SIGNIN_FAILURES_ACCOUNT
// failures the account refuses every sign-in, the right password included,
// with the same 429 (so the answer says nothing about the password), in
// every dialect, until the window lets one more attempt through. Other
// accounts are unaffected. OWASP ASVS v4 2.2.1.
func TestSignInFailuresPerAccount(t *testing.T) {
	s := servertest.Start(t, limits(func(c *config.Config) {
		c.RateLimitSigninFailuresAccount = config.Rate{Count: 3, Per: 15 * time.Minute} // one more every 5m
	}))
	s.SignUp(t, "victim@example.com", pw)
	s.SignUp(t, "other@example.com", pw)

	for i := range 3 {
		wantStatus(t, signIn(t, s, "victim@example.com", "guess-"+strconv.Itoa(i), fmt.Sprintf("198.51.100.%d", i+1)), 401)
	}
	wrong := signIn(t, s, "victim@example.com", "guess-3", "198.51.100.4")
	wantLimited(t, wrong, 5*time.Minute)
	right := signIn(t, s, "VICTIM@example.com ", pw, "198.51.100.5") // normalised: the same account
	wantLimited(t, right, 5*time.Minute)
	if string(right.Body) != string(wrong.Body) {
		t.Fatalf("a locked account answers differently for the right password:\n%s\n%s", right.Body, wrong.Body)
	}
	wantSlowDown(t, oauthPassword(t, s, "victim@example.com", pw, "198.51.100.6"), 5*time.Minute)
	wantStatus(t, signIn(t, s, "other@example.com", pw, "198.51.100.1"), 200)

	s.Clock.Advance(5*time.Minute - time.Second)
	wantLimited(t, signIn(t, s, "victim@example.com", pw, "198.51.100.7"), time.Second)
	s.Clock.Advance(time.Second)
	wantStatus(t, signIn(t, s, "victim@example.com", pw, "198.51.100.7"), 200)
	// A success costs nothing, but the window has let only one attempt back.
	wantStatus(t, signIn(t, s, "victim@example.com", "guess-4", "198.51.100.8"), 401)
	wantLimited(t, signIn(t, s, "victim@example.com", pw, "198.51.100.9"), 5*time.Minute)
}

// TestSignInFailuresPerIP is one address guessing passwords of many accounts
// (credential stuffing, password spraying): after
// RATE_LIMIT_SIGNIN_FAILURES_IP failures that address is refused, while
// other addresses and the accounts themselves are not.
func TestSignInFailuresPerIP(t *testing.T) {
	s := servertest.Start(t, limits(func(c *config.Config) {
		c.RateLimitSigninFailuresIP = config.Rate{Count: 3, Per: 15 * time.Minute}
	}))
	s.SignUp(t, "ann@example.com", pw)
	const attacker = "203.0.113.66"
	for i := range 3 {
		wantStatus(t, signIn(t, s, fmt.Sprintf("user%d@example.com", i), "guess", attacker), 401)
	}
	wantLimited(t, signIn(t, s, "ann@example.com", pw, attacker), 5*time.Minute)
	wantSlowDown(t, oauthPassword(t, s, "ann@example.com", pw, attacker), 5*time.Minute)
	wantStatus(t, signIn(t, s, "ann@example.com", pw, "203.0.113.7"), 200)
	s.Clock.Advance(5 * time.Minute)
	wantStatus(t, signIn(t, s, "ann@example.com", pw, attacker), 200)
}

// TestIPv6KeyedByNetwork: an IPv6 client is counted by its /64 network
// (RATE_LIMIT_IPV6_PREFIX), so taking a new address of its /64 for every
// guess does not reset the per-IP limits; a neighbouring /64 is a
// different client, and with a prefix of 128 each address counts alone.
func TestIPv6KeyedByNetwork(t *testing.T) {
	for _, tc := range []struct {
		bits          int
		sameNetworkOK bool // the fourth guess, from another address of the /64
	}{{64, false}, {128, true}} {
		t.Run(strconv.Itoa(tc.bits), func(t *testing.T) {
			s := servertest.Start(t, limits(func(c *config.Config) {
				c.RateLimitSigninFailuresIP = config.Rate{Count: 3, Per: 15 * time.Minute}
				c.RateLimitIPv6Prefix = tc.bits
			}))
			s.SignUp(t, "ann@example.com", pw)
			for i := range 3 {
				wantStatus(t, signIn(t, s, fmt.Sprintf("user%d@example.com", i), "guess", fmt.Sprintf("2001:db8:1:2::%x", i+1)), 401)
			}
			next := signIn(t, s, "ann@example.com", pw, "2001:db8:1:2:ffff:ffff:ffff:ff00")
			if tc.sameNetworkOK {
				wantStatus(t, next, 200)
			} else {
				wantLimited(t, next, 5*time.Minute)
			}
			wantStatus(t, signIn(t, s, "ann@example.com", pw, "2001:db8:1:3::1"), 200) // the next /64
			wantStatus(t, signIn(t, s, "ann@example.com", pw, "192.0.2.1"), 200)
		})
	}
}

// TestSignInsPerIP: every sign-in counts against RATE_LIMIT_SIGNIN_IP,
// successful ones too (it bounds the hashing one address can demand).
func TestSignInsPerIP(t *testing.T) {
	s := servertest.Start(t, limits(func(c *config.Config) {
		c.RateLimitSigninIP = config.Rate{Count: 3, Per: time.Minute} // one more every 20s
	}))
	s.SignUp(t, "ann@example.com", pw)
	const ip = "192.0.2.10"
	for range 3 {
		wantStatus(t, signIn(t, s, "ann@example.com", pw, ip), 200)
	}
	wantLimited(t, signIn(t, s, "ann@example.com", pw, ip), 20*time.Second)
	wantSlowDown(t, oauthPassword(t, s, "ann@example.com", pw, ip), 20*time.Second)
	wantStatus(t, signIn(t, s, "ann@example.com", pw, "192.0.2.11"), 200)
	s.Clock.Advance(20 * time.Second)
	wantStatus(t, signIn(t, s, "ann@example.com", pw, ip), 200)
}

// TestRefreshesPerIP: RATE_LIMIT_REFRESH_IP refuses refreshes beyond the
// limit with 429 (not the 400 of a bad token: the client should retry, not
// sign in again), and a refused refresh leaves the token usable.
func TestRefreshesPerIP(t *testing.T) {
	s := servertest.Start(t, limits(func(c *config.Config) {
		c.RateLimitRefreshIP = config.Rate{Count: 3, Per: time.Minute}
	}))
	const ip = "192.0.2.20"
	tk := s.SignIn(t, "ann@example.com", pw)
	refresh := func(rt, ip string) *servertest.Response {
		return s.Do(t, "POST", "/token", map[string]string{"refreshToken": rt}, "X-Forwarded-For: "+ip)
	}
	rt := tk.RefreshToken
	for range 3 {
		r := refresh(rt, ip)
		wantStatus(t, r, 200)
		rt = r.Map(t)["refreshToken"].(string)
	}
	wantLimited(t, refresh(rt, ip), 20*time.Second)
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	wantSlowDown(t, s.Do(t, "POST", "/oauth/token", v.Encode(), "Content-Type: application/x-www-form-urlencoded", "X-Forwarded-For: "+ip), 20*time.Second)
	// Another address is not limited, and the refused token was not spent.
	wantStatus(t, refresh(rt, "192.0.2.21"), 200)
	s.Clock.Advance(20 * time.Second)
	tk2 := s.SignIn(t, "bob@example.com", pw)
	wantStatus(t, refresh(tk2.RefreshToken, ip), 200)
}

// TestRateLimitsOff: RATE_LIMITS=off switches every limit off, however low.
func TestRateLimitsOff(t *testing.T) {
	s := servertest.Start(t, limits(func(c *config.Config) {
		c.RateLimits = false
		one := config.Rate{Count: 1, Per: time.Hour}
		c.RateLimitSigninFailuresAccount, c.RateLimitSigninFailuresIP, c.RateLimitSigninIP, c.RateLimitRefreshIP = one, one, one, one
		c.RateLimitSignupIP, c.RateLimitSignupGlobal = one, one
	}))
	for _, email := range []string{"bob@example.com", "cy@example.com"} {
		s.SignUp(t, email, pw)
	}
	tk := s.SignIn(t, "ann@example.com", pw)
	for range 5 {
		wantStatus(t, signIn(t, s, "ann@example.com", "wrong-password", "192.0.2.1"), 401)
	}
	wantStatus(t, signIn(t, s, "ann@example.com", pw, "192.0.2.1"), 200)
	rt := tk.RefreshToken
	for range 5 {
		r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": rt})
		wantStatus(t, r, 200)
		rt = r.Map(t)["refreshToken"].(string)
	}
}

// TestForwardedForOnlyFromTrustedProxies: with no TRUSTED_PROXIES an
// attacker cannot dodge the per-IP limit by sending a different
// X-Forwarded-For each time; with the proxy trusted, X-Forwarded-For names
// the client, and that address is the one recorded on the session and in
// the audit events.
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	failIP := func(c *config.Config) { c.RateLimitSigninFailuresIP = config.Rate{Count: 2, Per: time.Hour} }

	direct := servertest.Start(t, limits(func(c *config.Config) { failIP(c); c.TrustedProxies = nil }))
	for i := range 2 {
		wantStatus(t, signIn(t, direct, "ann@example.com", "guess", fmt.Sprintf("203.0.113.%d", i+1)), 401)
	}
	wantLimited(t, signIn(t, direct, "ann@example.com", "guess", "203.0.113.99"), 30*time.Minute)

	proxied := servertest.Start(t, limits(failIP))
	for i := range 4 {
		wantStatus(t, signIn(t, proxied, "ann@example.com", "guess", fmt.Sprintf("203.0.113.%d", i+1)), 401)
	}
	// The right-most untrusted entry is the client: a spoofed entry to its
	// left changes nothing.
	proxied.SignUp(t, "bob@example.com", pw)
	r := signIn(t, proxied, "bob@example.com", pw, "10.9.9.9, 198.51.100.23")
	wantStatus(t, r, 200)
	at := r.Map(t)["accessToken"].(string)
	sessions := proxied.Do(t, "GET", "/auth/sessions", nil, "Authorization: Bearer "+at)
	wantStatus(t, sessions, 200)
	var body struct {
		Sessions []struct {
			IP string `json:"ip"`
		} `json:"sessions"`
	}
	sessions.JSON(t, &body)
	if len(body.Sessions) != 1 || body.Sessions[0].IP != "198.51.100.23" {
		t.Fatalf("sessions %s, want one with ip 198.51.100.23", sessions.Body)
	}
}
