package e2e

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// TestTokenResponsesAreNotCached: every response that carries a token, and
// every response about a token, has Cache-Control: no-store (RFC 6749 §5.1,
// RFC 7662 §2.2 via RFC 6749; OWASP ASVS V8.2.1).
func TestTokenResponsesAreNotCached(t *testing.T) {
	s := servertest.Start(t, nil)
	const j, fm = "application/json", "application/x-www-form-urlencoded"
	v := secSignIn(t, s, "ann@example.com")
	oauth := secMustDo(t, s, "POST", "/oauth/token", fm, "grant_type=password&username=ann%40example.com&password="+url.QueryEscape(secPassword))
	var ort struct {
		RefreshToken string `json:"refresh_token"`
	}
	_ = jsonUnmarshal(oauth.Body, &ort)
	cases := []struct {
		name string
		r    *secResponse
	}{
		{"canonical sign-in", secMustDo(t, s, "POST", "/auth/sign-in", j, `{"email":"ann@example.com","password":"`+secPassword+`"}`)},
		// Before POST /token: a refresh stops the renewal of older access tokens.
		{"canonical POST /token/refresh", secMustDo(t, s, "POST", "/token/refresh", "", "", "Authorization: Bearer "+v.Access)},
		{"canonical POST /token", secMustDo(t, s, "POST", "/token", j, `{"refreshToken":"`+v.Refresh+`"}`)},
		{"canonical GET /auth/me", secMustDo(t, s, "GET", "/auth/me", "", "", "Authorization: Bearer "+v.Access)},
		{"canonical GET /auth/sessions", secMustDo(t, s, "GET", "/auth/sessions", "", "", "Authorization: Bearer "+v.Access)},
		{"oauth2 /oauth/token password", oauth},
		{"oauth2 /oauth/token refresh_token", secMustDo(t, s, "POST", "/oauth/token", fm, "grant_type=refresh_token&refresh_token="+ort.RefreshToken)},
		{"oauth2 /oauth/introspect", secMustDo(t, s, "POST", "/oauth/introspect", fm, "token="+v.Access)},
		{"oauth2 /oauth/token error", secMustDo(t, s, "POST", "/oauth/token", fm, "grant_type=refresh_token&refresh_token=x")},
	}
	for _, c := range cases {
		if c.r.Status >= 300 && !strings.Contains(c.name, "error") {
			t.Errorf("%s: %d %s", c.name, c.r.Status, c.r.Body)
		}
		if c.r.Header.Get("Cache-Control") != "no-store" || c.r.Header.Get("Pragma") != "no-cache" {
			t.Errorf("%s: Cache-Control %q, Pragma %q; want no-store, no-cache", c.name, c.r.Header.Get("Cache-Control"), c.r.Header.Get("Pragma"))
		}
	}
}

// TestRefreshCookieAttributes: the refresh cookie is HttpOnly everywhere,
// Secure and SameSite=Strict in production, and its Path covers
// /api/refresh/refreshtoken whichever route set it (RFC 6265 §4.1.2; OWASP
// ASVS V3.4.1-V3.4.5).
func TestRefreshCookieAttributes(t *testing.T) {
	for _, env := range []string{config.EnvDevelopment, config.EnvProduction} {
		t.Run(env, func(t *testing.T) {
			s := servertest.Start(t, func(c *config.Config) {
				c.AppEnv = env
				c.RefreshTokenSecret = strings.Repeat("p", 40)
			})
			s.SignUp(t, "ann@example.com", secPassword)
			creds := `{"email":"ann@example.com","password":"` + secPassword + `"}`
			signIn := secMustDo(t, s, "POST", "/auth/sign-in", "application/json", creds)
			oauth := secMustDo(t, s, "POST", "/oauth/token", "application/x-www-form-urlencoded",
				"grant_type=password&username=ann%40example.com&password="+url.QueryEscape(secPassword))
			var tk struct{ AccessToken, RefreshToken string }
			_ = jsonUnmarshal(signIn.Body, &tk)
			refresh := secMustDo(t, s, "POST", "/token", "application/json", `{"refreshToken":"`+tk.RefreshToken+`"}`)
			var rtk struct{ AccessToken string }
			_ = jsonUnmarshal(refresh.Body, &rtk)
			signOut := secMustDo(t, s, "POST", "/auth/sign-out", "", "", "Authorization: Bearer "+rtk.AccessToken)
			for name, r := range map[string]*secResponse{"canonical sign-in": signIn, "oauth2 password grant": oauth,
				"canonical refresh": refresh, "sign-out (clears)": signOut} {
				cookies := (&http.Response{Header: r.Header}).Cookies()
				if len(cookies) != 1 || cookies[0].Name != "refreshToken" {
					t.Errorf("%s: Set-Cookie %q", name, r.Header.Values("Set-Cookie"))
					continue
				}
				ck := cookies[0]
				if !ck.HttpOnly {
					t.Errorf("%s: not HttpOnly: %s", name, ck)
				}
				if !strings.HasPrefix("/api/refresh/refreshtoken", ck.Path) || ck.Path == "" {
					t.Errorf("%s: Path %q does not cover /api/refresh/refreshtoken", name, ck.Path)
				}
				prod := env == config.EnvProduction
				if ck.Secure != prod {
					t.Errorf("%s: Secure = %v in %s", name, ck.Secure, env)
				}
				if prod && ck.SameSite != http.SameSiteStrictMode {
					t.Errorf("%s: SameSite %v in production, want Strict", name, ck.SameSite)
				}
				if !prod && ck.SameSite == http.SameSiteNoneMode {
					t.Errorf("%s: SameSite=None in development", name)
				}
				if strings.Contains(name, "clears") {
					if ck.MaxAge >= 0 || ck.Value != "" {
						t.Errorf("sign-out does not delete the cookie: %s", ck)
					}
				} else if ck.Value == "" || ck.Domain != "" {
					t.Errorf("%s: value or Domain: %s", name, ck)
				}
			}
		})
	}
}

// TestHostPrefixedRefreshCookie: a REFRESH_COOKIE_NAME with the __Host-
// prefix (RFC 6265bis §4.1.3.2) is set the way browsers accept it, Secure
// with Path=/ and no Domain, even in development, so that no sibling
// subdomain can plant a cookie of that name that wins; the cookie refresh
// reads it back and sets it again the same way.
func TestHostPrefixedRefreshCookie(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.RefreshCookieName = "__Host-refreshToken" })
	s.SignUp(t, "ann@example.com", secPassword)
	r := secMustDo(t, s, "POST", "/auth/sign-in", "application/json", `{"email":"ann@example.com","password":"`+secPassword+`"}`)
	check := func(name string, r *secResponse) *http.Cookie {
		t.Helper()
		cookies := (&http.Response{Header: r.Header}).Cookies()
		if r.Status != 200 || len(cookies) != 1 {
			t.Fatalf("%s: %d, Set-Cookie %q", name, r.Status, r.Header.Values("Set-Cookie"))
		}
		ck := cookies[0]
		if ck.Name != "__Host-refreshToken" || !ck.Secure || ck.Path != "/" || ck.Domain != "" || !ck.HttpOnly || ck.Value == "" {
			t.Fatalf("%s: %s, want a __Host- cookie: Secure, Path=/, no Domain", name, ck)
		}
		return ck
	}
	ck := check("sign-in", r)
	check("cookie refresh", secMustDo(t, s, "GET", "/api/refresh/refreshtoken", "", "", "Cookie: "+ck.Name+"="+ck.Value))
}

// TestCORSIsExact: an allowed origin is echoed exactly, with credentials and
// Vary: Origin; any other origin (look-alikes included) gets no CORS header,
// and its preflight a 403 (Fetch standard, CORS protocol; ASVS V14.5.3).
func TestCORSIsExact(t *testing.T) {
	const allowed = "https://app.example.com"
	s := servertest.Start(t, func(c *config.Config) { c.CORSAllowedOrigins = config.Origins{allowed} })
	v := secSignIn(t, s, "ann@example.com")
	me := func(origin string) *secResponse {
		return secMustDo(t, s, "GET", "/auth/me", "", "", "Authorization: Bearer "+v.Access, "Origin: "+origin)
	}
	preflight := func(origin string) *secResponse {
		return secMustDo(t, s, "OPTIONS", "/token", "", "", "Origin: "+origin, "Access-Control-Request-Method: POST",
			"Access-Control-Request-Headers: content-type")
	}
	r := me(allowed)
	if r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != allowed || r.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		!slices.Contains(r.Header.Values("Vary"), "Origin") {
		t.Fatalf("allowed origin: %d %v", r.Status, r.Header)
	}
	p := preflight(allowed)
	if p.Status != 204 || p.Header.Get("Access-Control-Allow-Origin") != allowed || !strings.Contains(p.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(p.Header.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Fatalf("allowed preflight: %d %v", p.Status, p.Header)
	}
	for _, o := range []string{"https://evil.example", "null", "http://app.example.com", "https://app.example.com.evil.example",
		"https://app.example.com:8443", "https://APP.example.com", "https://evil-app.example.com", allowed + "/"} {
		r := me(o)
		p := preflight(o)
		for name, x := range map[string]*secResponse{"request": r, "preflight": p} {
			for k := range x.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Errorf("origin %q, %s: CORS header %s: %v", o, name, k, x.Header.Get(k))
				}
			}
			if !slices.Contains(x.Header.Values("Vary"), "Origin") {
				t.Errorf("origin %q, %s: no Vary: Origin", o, name)
			}
		}
		if p.Status != http.StatusForbidden {
			t.Errorf("origin %q: preflight %d, want 403", o, p.Status)
		}
	}
}

// TestSecurityHeadersOnEveryResponse: nosniff, no-referrer and
// frame-denial on every answer, success or failure, of every route
// (OWASP ASVS V14.4).
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.CORSAllowedOrigins = config.Origins{"https://app.example.com"} })
	v := secSignIn(t, s, "ann@example.com")
	const j, fm = "application/json", "application/x-www-form-urlencoded"
	reqs := []struct{ method, path, ctype, body, hdr string }{
		{"POST", "/auth/sign-up", j, `{"email":"bob@example.com","password":"` + secPassword + `"}`, ""},
		{"POST", "/auth/sign-up", j, `{`, ""},
		{"POST", "/auth/sign-in", j, `{"email":"ann@example.com","password":"` + secPassword + `"}`, ""},
		{"POST", "/auth/sign-in", j, `{"email":"ann@example.com","password":"nope-nope-nope"}`, ""},
		{"POST", "/token", j, `{"refreshToken":"x"}`, ""},
		{"POST", "/token", j, strings.Repeat(" ", 70<<10), ""},
		{"POST", "/token/refresh", "", "", "Authorization: Bearer " + v.Access},
		{"GET", "/auth/me", "", "", "Authorization: Bearer " + v.Access},
		{"GET", "/auth/me", "", "", ""},
		{"GET", "/auth/sessions", "", "", "Authorization: Bearer " + v.Access},
		{"DELETE", "/auth/sessions/nope", "", "", "Authorization: Bearer " + v.Access},
		{"POST", "/oauth/token", fm, "grant_type=nope", ""},
		{"POST", "/oauth/introspect", fm, "token=x", ""},
		{"POST", "/oauth/revoke", fm, "token=x", ""},
		{"GET", "/.well-known/oauth-authorization-server", "", "", ""},
		{"GET", "/.well-known/jwks.json", "", "", ""},
		{"GET", "/healthz", "", "", ""},
		{"GET", "/readyz", "", "", ""},
		{"GET", "/no/such/route", "", "", ""},
		{"PUT", "/token", j, `{}`, ""},
		{"OPTIONS", "/token", "", "", "Access-Control-Request-Method: POST"},
		{"POST", "/auth/sign-out", "", "", "Authorization: Bearer " + v.Access},
	}
	for _, q := range reqs {
		hdrs := []string{"Origin: https://app.example.com"}
		if q.hdr != "" {
			hdrs = append(hdrs, q.hdr)
		}
		r := secMustDo(t, s, q.method, q.path, q.ctype, q.body, hdrs...)
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
			if got := r.Header.Get(k); got != want {
				t.Errorf("%s %s (%d): %s = %q, want %q", q.method, q.path, r.Status, k, got, want)
			}
		}
		if r.Status >= 500 {
			t.Errorf("%s %s: %d %s", q.method, q.path, r.Status, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); len(r.Body) > 0 && !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s %s (%d): Content-Type %q for %q", q.method, q.path, r.Status, ct, r.Body)
		}
	}
}
