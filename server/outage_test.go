package server_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/server/servertest"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// outageServer starts a server on PostgreSQL whose connections go through a
// proxy the test cuts and restores, and signs a user in.
func outageServer(t *testing.T) (*servertest.Server, *pgtest.Proxy, servertest.Tokens) {
	t.Helper()
	proxy, u := pgtest.ProxyURL(t, pgtest.FreshSchema(t))
	cfg := servertest.Config(t)
	cfg.DatabaseURL = u
	srv := servertest.StartConfig(t, cfg)
	return srv, proxy, srv.SignIn(t, "ada@example.com", "correct horse battery")
}

// want503 checks the answer to a database outage: 503 with a Retry-After of
// whole seconds, and no stack trace or driver detail in the body.
func want503(t *testing.T, what string, r *servertest.Response) {
	t.Helper()
	if r.Status != http.StatusServiceUnavailable {
		t.Errorf("%s during the outage: %d %s; want 503", what, r.Status, r.Body)
		return
	}
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("%s during the outage: Retry-After %q; want whole seconds >= 1", what, r.Header.Get("Retry-After"))
	}
}

// waitReady polls /readyz for a bounded time until the server reports the
// database again (recovery is the pool's own; the test only waits for it).
func waitReady(t *testing.T, srv *servertest.Server) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := srv.Do(t, "GET", "/readyz", nil)
		if r.Status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %s after the database came back", r.Status, r.Body)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not passing time
	}
}

// TestDatabaseOutage: with the database cut off, every route that needs it
// answers 503 with Retry-After (never 500, never a hang), routes that do not
// need it keep working, and nothing is consumed: once the database is back
// the same refresh token works, with no restart.
func TestDatabaseOutage(t *testing.T) {
	srv, proxy, tk := outageServer(t)
	bearer := "Authorization: Bearer " + tk.AccessToken

	proxy.Cut()
	for _, c := range []struct {
		name, method, path string
		body               any
		headers            []string
	}{
		{"refresh", "POST", "/token", map[string]string{"refreshToken": tk.RefreshToken}, nil},
		{"oauth refresh", "POST", "/oauth/token", "grant_type=refresh_token&refresh_token=" + tk.RefreshToken,
			[]string{"Content-Type: application/x-www-form-urlencoded"}},
		{"oauth password", "POST", "/oauth/token", "grant_type=password&username=ada@example.com&password=correct+horse+battery",
			[]string{"Content-Type: application/x-www-form-urlencoded"}},
		{"sign-in", "POST", "/auth/sign-in", map[string]string{"email": "ada@example.com", "password": "correct horse battery"}, nil},
		{"sign-up", "POST", "/auth/sign-up", map[string]string{"email": "bob@example.com", "password": "correct horse battery"}, nil},
		{"access renewal", "POST", "/token/refresh", nil, []string{bearer}},
		{"me", "GET", "/auth/me", nil, []string{bearer}},
		{"list sessions", "GET", "/auth/sessions", nil, []string{bearer}},
		{"sign-out", "POST", "/auth/sign-out", map[string]string{"scope": "local"}, []string{bearer}},
		{"introspect", "POST", "/oauth/introspect", "token=" + tk.AccessToken,
			[]string{"Content-Type: application/x-www-form-urlencoded"}},
		{"delete session", "DELETE", "/auth/sessions/" + servertest.SessionID(t, tk.AccessToken), nil, []string{bearer}},
		{"oauth revoke", "POST", "/oauth/revoke", "token=" + tk.RefreshToken,
			[]string{"Content-Type: application/x-www-form-urlencoded"}},
		{"readyz", "GET", "/readyz", nil, nil},
	} {
		want503(t, c.name, srv.Do(t, c.method, c.path, c.body, c.headers...))
	}
	// Routes that need no database keep working.
	for _, path := range []string{"/healthz", "/.well-known/jwks.json"} {
		if r := srv.Do(t, "GET", path, nil); r.Status != http.StatusOK {
			t.Errorf("GET %s during the outage: %d %s; want 200 (no database needed)", path, r.Status, r.Body)
		}
	}

	// Prometheus sees the outage without a readiness probe: /metrics pings
	// the database at each scrape.
	if up, ok := scrape(t, srv)["latchkey_database_up"]; !ok || up != 0 {
		t.Errorf("latchkey_database_up = %v (present %v) during the outage; want 0", up, ok)
	}

	proxy.Restore()
	waitReady(t, srv)
	if up := scrape(t, srv)["latchkey_database_up"]; up != 1 {
		t.Errorf("latchkey_database_up = %v after the outage; want 1", up)
	}
	r := srv.Do(t, "POST", "/token", map[string]string{"refreshToken": tk.RefreshToken})
	if r.Status != http.StatusOK {
		t.Fatalf("refresh with the same token after the outage: %d %s; want 200 (nothing consumed)", r.Status, r.Body)
	}
}

// TestDatabaseBlackhole: a database that stops answering without closing
// anything (a partition, a hung server) is an outage too, answered within
// the store's query timeout (5s by default) rather than when TCP gives up.
func TestDatabaseBlackhole(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 5s query timeout")
	}
	srv, proxy, tk := outageServer(t)

	proxy.Blackhole()
	start := time.Now()
	want503(t, "refresh", srv.Do(t, "POST", "/token", map[string]string{"refreshToken": tk.RefreshToken}))
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("refresh against a silent database took %v; want about the 5s query timeout", d)
	}
	t.Logf("refresh against a silent database answered 503 in %v", time.Since(start).Round(time.Millisecond))
	want503(t, "readyz", srv.Do(t, "GET", "/readyz", nil))

	proxy.Restore()
	waitReady(t, srv)
	if r := srv.Do(t, "POST", "/token", map[string]string{"refreshToken": tk.RefreshToken}); r.Status != http.StatusOK {
		t.Fatalf("refresh after the blackhole: %d %s; want 200", r.Status, r.Body)
	}
}
