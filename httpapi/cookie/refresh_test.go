package cookie_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/internal/golden"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

const appOrigin = "https://app.example.com"

func TestRefresh(t *testing.T) {
	s := servertest.Start(t, nil)
	ck := signIn(t, s)
	if !ck.HttpOnly || ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/api/refresh" || ck.MaxAge != 86400 {
		t.Fatalf("development cookie: %+v", ck)
	}
	s.Clock.Advance(time.Minute)
	r := refresh(t, s, ck.Value)
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	golden.Assert(t, "testdata/refresh.json", r.Body)
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers: %v", r.Header)
	}
	next := refreshCookie(t, r)
	if next.Value == ck.Value || !next.HttpOnly || next.Path != "/api/refresh" || next.MaxAge != 86400 {
		t.Fatalf("rotated cookie: %+v", next)
	}
	// The access token is a working one.
	var out struct{ AccessToken string }
	r.JSON(t, &out)
	if me := s.Do(t, "GET", "/auth/me", nil, "Authorization: Bearer "+out.AccessToken); me.Status != http.StatusOK {
		t.Fatalf("me: %d %s", me.Status, me.Body)
	}
	// And the rotated cookie refreshes again.
	if r := refresh(t, s, next.Value); r.Status != http.StatusOK {
		t.Fatalf("second refresh: %d %s", r.Status, r.Body)
	}
}

// DeployHub's cookie refresh does not rotate the refresh token;
// REFRESH_TOKEN_ROTATION=off gives the same cookie back, as it does.
func TestRotationOffReturnsTheSameCookie(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.RefreshTokenRotation = false })
	ck := signIn(t, s)
	for range 3 {
		s.Clock.Advance(time.Hour)
		r := refresh(t, s, ck.Value)
		if r.Status != http.StatusOK {
			t.Fatalf("refresh: %d %s", r.Status, r.Body)
		}
		again := refreshCookie(t, r)
		if again.Value != ck.Value || !again.Expires.Equal(ck.Expires) {
			t.Fatalf("cookie changed: %+v, was %+v", again, ck)
		}
	}
}

func TestProductionCookie(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) {
		c.AppEnv = config.EnvProduction
		c.RefreshTokenSecret = strings.Repeat("k", 32)
	})
	ck := signIn(t, s)
	r := refresh(t, s, ck.Value)
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	for _, c := range []*http.Cookie{ck, refreshCookie(t, r)} {
		if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/api/refresh" {
			t.Fatalf("production cookie: %+v", c)
		}
	}
	raw := r.Header.Get("Set-Cookie")
	for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/api/refresh"} {
		if !strings.Contains(raw, attr) {
			t.Fatalf("Set-Cookie %q lacks %s", raw, attr)
		}
	}
}

// Every error status, each body checked against testdata/error_<name>.json.
func TestErrors(t *testing.T) {
	for _, c := range []struct {
		name    string
		mod     func(*config.Config)
		do      func(*testing.T, *servertest.Server) *servertest.Response
		status  int
		cleared bool // the response deletes the cookie
	}{
		{name: "missing_cookie", status: 400, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			return refresh(t, s, "")
		}},
		{name: "empty_cookie", status: 400, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			return s.Do(t, "GET", route, nil, "Cookie: refreshToken=")
		}},
		{name: "other_cookie_name", status: 400, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			return s.Do(t, "GET", route, nil, "Cookie: RefreshToken="+signIn(t, s).Value)
		}},
		{name: "invalid_cookie", status: 400, cleared: true, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			return refresh(t, s, "garbage")
		}},
		{name: "access_token_in_cookie", status: 400, cleared: true, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			tk := s.SignIn(t, ann, pw)
			return refresh(t, s, tk.AccessToken)
		}},
		{name: "expired", status: 400, cleared: true, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			ck := signIn(t, s)
			s.Clock.Advance(24*time.Hour + time.Second) // JWT_REFRESH_EXPIRES_IN
			return refresh(t, s, ck.Value)
		}},
		{name: "reused", status: 400, cleared: true, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			ck := signIn(t, s)
			if r := refresh(t, s, ck.Value); r.Status != 200 {
				t.Fatalf("first refresh: %d %s", r.Status, r.Body)
			}
			s.Clock.Advance(11 * time.Second) // past REFRESH_TOKEN_REUSE_INTERVAL
			return refresh(t, s, ck.Value)
		}},
		{name: "signed_out", status: 400, cleared: true, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			tk := s.SignIn(t, ann, pw)
			if r := s.Do(t, "POST", "/auth/sign-out", nil, "Authorization: Bearer "+tk.AccessToken); r.Status != 204 {
				t.Fatalf("sign-out: %d %s", r.Status, r.Body)
			}
			return refresh(t, s, tk.RefreshToken)
		}},
		{name: "user_deactivated", status: 400, cleared: true, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			ck := signIn(t, s)
			if _, err := s.App.Service.SetUserActive(context.Background(), ann, false); err != nil {
				t.Fatal(err)
			}
			return refresh(t, s, ck.Value)
		}},
		{name: "user_not_found", status: 404, cleared: true, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			ck := signIn(t, s)
			deleteUser(t, s, ann)
			return refresh(t, s, ck.Value)
		}},
		{name: "cross_site_origin", status: 403, mod: allowApp, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			return refresh(t, s, signIn(t, s).Value, "Origin: https://evil.example")
		}},
		{name: "cross_site_fetch_metadata", status: 403, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			// A top-level navigation from another site: no Origin, but the
			// browser says where it came from.
			return refresh(t, s, signIn(t, s).Value, "Sec-Fetch-Site: cross-site")
		}},
		{name: "null_origin", status: 403, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			return refresh(t, s, signIn(t, s).Value, "Origin: null")
		}},
		{name: "rate_limited", status: 429, mod: func(c *config.Config) {
			c.RateLimits = true
			c.RateLimitRefreshIP = config.Rate{Count: 1, Per: time.Minute}
		}, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			r := refresh(t, s, signIn(t, s).Value)
			return refresh(t, s, refreshCookie(t, r).Value)
		}},
		{name: "unavailable", status: 503, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			ck := signIn(t, s)
			s.App.Store.Close()
			return refresh(t, s, ck.Value)
		}},
		{name: "cookie_switched_off", status: 404, mod: func(c *config.Config) { c.RefreshCookie = false }, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			tk := s.SignIn(t, ann, pw)
			return refresh(t, s, tk.RefreshToken)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := servertest.Start(t, c.mod)
			r := c.do(t, s)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("headers: %v", r.Header)
			}
			if wantRetry := c.status == 429 || c.status == 503; (r.Header.Get("Retry-After") != "") != wantRetry {
				t.Fatalf("Retry-After %q on a %d", r.Header.Get("Retry-After"), c.status)
			}
			cks := setCookies(r)
			if c.cleared != (len(cks) == 1 && cks[0].Name == "refreshToken" && cks[0].MaxAge < 0 && cks[0].Path == "/api/refresh") || len(cks) > 1 {
				t.Fatalf("cleared = %v, want %v: %v", len(cks) == 1, c.cleared, r.Header["Set-Cookie"])
			}
			golden.Assert(t, "testdata/error_"+c.name+".json", r.Body)
		})
	}
}

func allowApp(c *config.Config) { c.CORSAllowedOrigins = config.Origins{appOrigin} }

// A single-page app on an allowed origin calls the route with
// credentials: "include"; the CORS middleware lets it read the answer.
func TestAllowedOrigin(t *testing.T) {
	s := servertest.Start(t, allowApp)
	ck := signIn(t, s)
	pre := s.Do(t, "OPTIONS", route, nil, "Origin: "+appOrigin, "Access-Control-Request-Method: GET")
	if pre.Status != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != appOrigin ||
		pre.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight: %d %v", pre.Status, pre.Header)
	}
	if pre := s.Do(t, "OPTIONS", route, nil, "Origin: https://evil.example", "Access-Control-Request-Method: GET"); pre.Status != http.StatusForbidden ||
		pre.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin: %d %v", pre.Status, pre.Header)
	}
	r := refresh(t, s, ck.Value, "Origin: "+appOrigin, "Sec-Fetch-Site: cross-site")
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("Access-Control-Allow-Origin") != appOrigin || r.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("CORS headers: %v", r.Header)
	}
	refreshCookie(t, r)
	// Same origin (the Origin names this server) needs no allow-list entry.
	if r := refresh(t, s, refreshCookie(t, r).Value, "Origin: "+s.URL); r.Status != http.StatusOK {
		t.Fatalf("same origin: %d %s", r.Status, r.Body)
	}
}

// The route is GET only, as DeployHub's is: another method never reaches it
// (the server's catch-all answers 404, or ServeMux 405).
func TestOtherMethods(t *testing.T) {
	s := servertest.Start(t, nil)
	ck := signIn(t, s)
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		if r := refresh(t, s, ck.Value); r.Status != http.StatusOK {
			t.Fatalf("GET: %d %s", r.Status, r.Body)
		} else {
			ck = refreshCookie(t, r)
		}
		r := s.Do(t, m, route, nil, "Cookie: refreshToken="+ck.Value)
		if r.Status != http.StatusNotFound && r.Status != http.StatusMethodNotAllowed {
			t.Fatalf("%s: %d %s", m, r.Status, r.Body)
		}
	}
}
