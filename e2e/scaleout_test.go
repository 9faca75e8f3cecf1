package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// The scale-out acceptance test: the real binary, two instances on the
// loopback, one PostgreSQL database. Each test gets a database of its own
// (pgtest.FreshDatabase) and skips with one line when
// LATCHKEY_TEST_POSTGRES_URL is unset (fails under CI=true).

const password = "correct horse battery staple"

// scaleOutSettings are the settings both instances share. There is no
// REFRESH_TOKEN_SECRET: in development the first instance to start generates
// one and keeps it in the database, and every instance reads the same one.
// PUBLIC_URL is the load balancer's URL (the tokens' issuer), the same for
// every instance.
func scaleOutSettings(dbURL string, reuse string) map[string]string {
	return map[string]string{
		"DATABASE_URL":                 dbURL,
		"APP_ENV":                      "development",
		"PUBLIC_URL":                   "https://auth.example.test",
		"RATE_LIMITS":                  "off",
		"REFRESH_TOKEN_REUSE_INTERVAL": reuse,
		"KEY_RELOAD_INTERVAL":          "1s",
		"LOG_LEVEL":                    "warn",
	}
}

// startPair starts instances A and B at the same moment on an empty
// database (both migrate at once; the advisory lock makes one wait) and
// waits until both are ready.
func startPair(t *testing.T, settings map[string]string) (a, b *e2etest.Proc) {
	t.Helper()
	ps := e2etest.StartServers(t, settings, settings)
	return ps[0], ps[1]
}

// signIn signs up (once) and signs in on in, returning the tokens.
func signIn(t *testing.T, c *http.Client, in *e2etest.Proc, email string) (access, refresh string) {
	t.Helper()
	cred := map[string]string{"email": email, "password": password}
	if r, err := call(c, "POST", in.URL+"/auth/sign-up", cred, ""); err != nil || (r.status != http.StatusCreated && r.status != http.StatusConflict) {
		t.Fatalf("sign-up on %s: %v %v", in.URL, r, err)
	}
	r := mustCall(t, c, "POST", in.URL+"/auth/sign-in", cred, "", http.StatusOK)
	return r.str("accessToken"), r.str("refreshToken")
}

// TestScaleOut: sign-in on A, refresh on B, reuse detected across
// instances, sign-out on B honoured by A, access tokens of A accepted by B,
// and a key rotation seen by both within KEY_RELOAD_INTERVAL.
func TestScaleOut(t *testing.T) {
	dbURL := pgtest.FreshDatabase(t)
	settings := scaleOutSettings(dbURL, "0s") // no grace: a second use is reuse at once
	start := time.Now()
	a, b := startPair(t, settings)
	t.Logf("A and B migrated an empty database at once and were ready in %v", time.Since(start).Round(time.Millisecond))
	c := &http.Client{Timeout: 10 * time.Second}

	t.Run("one generated refresh secret", func(t *testing.T) {
		conn, err := pgx.Connect(context.Background(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM secrets WHERE name = 'refresh_token_secret'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("refresh secrets in the database: %d, %v; want exactly 1", n, err)
		}
	})

	t.Run("refresh on B, reuse on A kills the family on both", func(t *testing.T) {
		access, r1 := signIn(t, c, a, "ada@example.com")
		// An access token minted by A is accepted by B (shared keys).
		me := mustCall(t, c, "GET", b.URL+"/auth/me", nil, access, http.StatusOK)
		if u, _ := me.body["user"].(map[string]any); u["email"] != "ada@example.com" {
			t.Fatalf("B's /auth/me for A's token: %s", me.raw)
		}
		r2 := mustCall(t, c, "POST", b.URL+"/token", map[string]string{"refreshToken": r1}, "", http.StatusOK).str("refreshToken")
		if r2 == "" || r2 == r1 {
			t.Fatalf("B did not rotate the refresh token of A's session")
		}
		// The superseded token, on A: reuse, the session is revoked.
		reuse := mustCall(t, c, "POST", a.URL+"/token", map[string]string{"refreshToken": r1}, "", http.StatusBadRequest)
		if reuse.str("error") != "refresh_token_reused" {
			t.Fatalf("superseded token on A: %s; want refresh_token_reused", reuse.raw)
		}
		// The current token is dead too, on B.
		dead := mustCall(t, c, "POST", b.URL+"/token", map[string]string{"refreshToken": r2}, "", http.StatusBadRequest)
		if e := dead.str("error"); e != "refresh_token_reused" && e != "session_revoked" {
			t.Fatalf("current token on B after reuse: %s; want the session revoked", dead.raw)
		}
	})

	t.Run("sign-out on B is honoured by A", func(t *testing.T) {
		access, refresh := signIn(t, c, a, "grace@example.com")
		mustCall(t, c, "POST", b.URL+"/auth/sign-out", map[string]string{"scope": "local"}, access, http.StatusNoContent)
		r := mustCall(t, c, "POST", a.URL+"/token", map[string]string{"refreshToken": refresh}, "", http.StatusBadRequest)
		if r.str("error") != "session_revoked" {
			t.Fatalf("refresh on A after sign-out on B: %s; want session_revoked", r.raw)
		}
	})

	t.Run("keys rotate is published by both within KEY_RELOAD_INTERVAL", func(t *testing.T) {
		out := e2etest.RunCLI(t, settings, "keys", "rotate")
		m := regexp.MustCompile(`new active key (\S+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("keys rotate printed %q", out)
		}
		kid := m[1]
		rotated := time.Now()
		for _, in := range []*e2etest.Proc{a, b} {
			for {
				if slices.Contains(jwksKIDs(t, c, in), kid) {
					t.Logf("%s publishes %s %v after the rotation", in.URL, kid, time.Since(rotated).Round(time.Millisecond))
					break
				}
				if time.Since(rotated) > 5*time.Second { // KEY_RELOAD_INTERVAL=1s, with room for a slow machine
					t.Fatalf("%s does not publish %s %v after the rotation", in.URL, kid, time.Since(rotated))
				}
				time.Sleep(50 * time.Millisecond) // polling interval
			}
		}
		// A now signs with the new key, and B accepts what it signs.
		access, _ := signIn(t, c, a, "ada@example.com")
		if h := jwtHeaderKID(t, access); h != kid {
			t.Fatalf("A signs with %s after reloading; want %s", h, kid)
		}
		mustCall(t, c, "GET", b.URL+"/auth/me", nil, access, http.StatusOK)
	})
}

// TestScaleOutKill: N clients refresh in a loop through A and B; A is
// killed (SIGKILL) in the middle. Every client goes on through B from its
// last acknowledged refresh token, or, when A rotated but died before
// answering, from the token before it, which the reuse interval (10s)
// answers with the session's current tokens. No session is lost.
func TestScaleOutKill(t *testing.T) {
	const (
		clients  = 8
		duration = 3 * time.Second // of the whole loop; A dies after a third of it
	)
	dbURL := pgtest.FreshDatabase(t)
	a, b := startPair(t, scaleOutSettings(dbURL, "10s"))

	type state struct {
		refresh             string
		viaA, viaB, retried int
		lastErr             error
	}
	states := make([]*state, clients)
	for i := range states {
		_, refresh := signIn(t, &http.Client{Timeout: 10 * time.Second}, a, fmt.Sprintf("user%d@example.com", i))
		states[i] = &state{refresh: refresh}
	}

	var aDead atomic.Bool
	var refreshed atomic.Int64 // acknowledged refreshes, all clients
	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	for i, st := range states {
		wg.Go(func() {
			c := &http.Client{Timeout: 5 * time.Second} // one real client per user
			for n := 0; time.Now().Before(stop); n++ {
				via := b
				if n%2 == i%2 && !aDead.Load() {
					via = a
				}
				r, err := call(c, "POST", via.URL+"/token", map[string]string{"refreshToken": st.refresh}, "")
				if err != nil && via == a {
					// A died under us: was the rotation done or not? B
					// answers either way (rotation, or reissue within the
					// reuse interval).
					st.retried++
					via = b
					r, err = call(c, "POST", b.URL+"/token", map[string]string{"refreshToken": st.refresh}, "")
				}
				if err == nil && r.status != http.StatusOK {
					err = fmt.Errorf("%d %s", r.status, r.raw)
				}
				if err != nil {
					st.lastErr = fmt.Errorf("refresh %d via %s: %w", n, via.URL, err)
					return
				}
				st.refresh = r.str("refreshToken")
				refreshed.Add(1)
				if via == a {
					st.viaA++
				} else {
					st.viaB++
				}
			}
		})
	}
	// Kill A once traffic flows through both: every client has refreshed a
	// few times (bounded by the loop's own end).
	for refreshed.Load() < 30*clients && time.Now().Before(stop.Add(-duration/2)) {
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	a.Kill()
	aDead.Store(true)
	killedAfter := duration - time.Until(stop)
	wg.Wait()

	total := 0
	for i, st := range states {
		if st.lastErr != nil {
			t.Errorf("client %d lost its session: %v", i, st.lastErr)
			continue
		}
		// One more refresh on B, after the loop: the session is alive.
		c := &http.Client{Timeout: 5 * time.Second}
		mustCall(t, c, "POST", b.URL+"/token", map[string]string{"refreshToken": st.refresh}, "", http.StatusOK)
		total += st.viaA + st.viaB
		t.Logf("client %d: %d refreshes via A, %d via B, %d retried on B after A died", i, st.viaA, st.viaB, st.retried)
	}
	t.Logf("%d refreshes by %d clients in %v; A killed after %v", total, clients, duration, killedAfter.Round(time.Millisecond))
}

// jwksKIDs returns the kids an instance publishes.
func jwksKIDs(t *testing.T, c *http.Client, in *e2etest.Proc) []string {
	t.Helper()
	r := mustCall(t, c, "GET", in.URL+"/.well-known/jwks.json", nil, "", http.StatusOK)
	keys, _ := r.body["keys"].([]any)
	var kids []string
	for _, k := range keys {
		if m, ok := k.(map[string]any); ok {
			if kid, ok := m["kid"].(string); ok {
				kids = append(kids, kid)
			}
		}
	}
	return kids
}

// jwtHeaderKID returns the kid of a JWT's header (unverified).
func jwtHeaderKID(t *testing.T, jwt string) string {
	t.Helper()
	head, _, _ := strings.Cut(jwt, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.KID
}
