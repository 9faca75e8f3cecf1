package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// Login CSRF and cookie injection. Browsers store a cookie
// that the response to a top-level form POST from another site sets, even a
// SameSite=Strict one: an attacker's page auto-submitting its own
// credentials would leave the victim's browser signed in as the attacker,
// and a form POST to a revocation would sign the victim out. So no route
// sets or clears the refresh cookie for a cross-site request (an Origin that
// is neither this server nor allowed, "Origin: null", or Fetch Metadata's
// Sec-Fetch-Site: cross-site): the routes whose answer would set it refuse
// the request (403, before any credential or token is read), the ones that
// would only clear it answer without touching it. Each row is sent from
// three cross-site contexts, then from three legitimate ones (same origin,
// an allowed origin, no Origin at all) which must get the cookie.

const secEvil = "https://evil.example"

// secCrossSite are the headers of the cross-site contexts.
var secCrossSite = map[string][]string{
	"another site's form":     {"Origin: " + secEvil, "Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: navigate"},
	"a navigation, no Origin": {"Sec-Fetch-Site: cross-site"},
	"a sandboxed frame":       {"Origin: null", "Sec-Fetch-Site: cross-site"},
}

// secSignups numbers the sign-ups of the sign-up row.
var secSignups atomic.Int64

// secCSRFEnv is one row's server and a fresh sign-in of its victim.
type secCSRFEnv struct {
	s *servertest.Server
	v secTokens
}

type secCSRFRoute struct {
	name string
	send func(t *testing.T, e *secCSRFEnv, headers ...string) *secResponse
	// refused: a cross-site request gets the dialect's 403 (error is the
	// code the body must carry); else it is answered with status.
	refused bool
	error   string
	status  int
	// clears: the legitimate answer clears the cookie (Max-Age<=0) rather
	// than setting it.
	clears bool
	// spent reports whether the request changed the victim's session
	// (rotated or revoked it): a refused request must not.
	spent bool
}

func secFormPost(t *testing.T, e *secCSRFEnv, path string, v url.Values, headers ...string) *secResponse {
	return secMustDo(t, e.s, "POST", path, confForm, v.Encode(), headers...)
}

var secCSRFRoutes = []secCSRFRoute{
	{name: "canonical sign-in", refused: true, error: "cross_site_request", status: 200,
		send: func(t *testing.T, e *secCSRFEnv, h ...string) *secResponse {
			return secMustDo(t, e.s, "POST", "/auth/sign-in", "application/json", `{"email":"mallory@example.com","password":"`+secPassword+`"}`, h...)
		}},
	{name: "canonical refresh", refused: true, error: "cross_site_request", status: 200, spent: true,
		send: func(t *testing.T, e *secCSRFEnv, h ...string) *secResponse {
			return secMustDo(t, e.s, "POST", "/token", "application/json", `{"refreshToken":"`+e.v.Refresh+`"}`, h...)
		}},
	{name: "OAuth password grant (form)", refused: true, error: "invalid_request", status: 200,
		send: func(t *testing.T, e *secCSRFEnv, h ...string) *secResponse {
			return secFormPost(t, e, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"mallory@example.com"}, "password": {secPassword}}, h...)
		}},
	{name: "OAuth refresh grant (form)", refused: true, error: "invalid_request", status: 200, spent: true,
		send: func(t *testing.T, e *secCSRFEnv, h ...string) *secResponse {
			return secFormPost(t, e, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {e.v.Refresh}}, h...)
		}},
	{name: "login URL sign-in (form)", refused: true, error: "invalid_request", status: 200,
		send: func(t *testing.T, e *secCSRFEnv, h ...string) *secResponse {
			return secFormPost(t, e, "/auth/login", url.Values{"email": {"mallory@example.com"}, "password": {secPassword}}, h...)
		}},
	{name: "login URL refresh (form)", refused: true, error: "invalid_request", status: 200, spent: true,
		send: func(t *testing.T, e *secCSRFEnv, h ...string) *secResponse {
			return secFormPost(t, e, "/auth/login", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {e.v.Refresh}}, h...)
		}},
	{name: "login URL sign-up (form)", refused: true, error: "invalid_request", status: 201,
		send: func(t *testing.T, e *secCSRFEnv, h ...string) *secResponse {
			return secFormPost(t, e, "/auth/signup", url.Values{"email": {fmt.Sprintf("new-%d@example.com", secSignups.Add(1))}, "password": {secPassword}}, h...)
		}},
	{name: "Feathers local sign-in", refused: true, error: "Forbidden", status: 201,
		send: func(t *testing.T, e *secCSRFEnv, h ...string) *secResponse {
			return secMustDo(t, e.s, "POST", "/authentication", "application/json",
				`{"strategy":"local","email":"mallory@example.com","password":"`+secPassword+`"}`, h...)
		}},
	{name: "Feathers refresh", refused: true, error: "Forbidden", status: 201, spent: true,
		send: func(t *testing.T, e *secCSRFEnv, h ...string) *secResponse {
			return secMustDo(t, e.s, "POST", "/authentication", "application/json", `{"action":"refresh","refresh_token":"`+e.v.Refresh+`"}`, h...)
		}},
	{name: "cookie refresh", refused: true, error: "cross_site_request", status: 200, spent: true,
		send: func(t *testing.T, e *secCSRFEnv, h ...string) *secResponse {
			return secMustDo(t, e.s, "GET", "/api/refresh/refreshtoken", "", "", append(h, "Cookie: refreshToken="+e.v.Refresh)...)
		}},
	// The forced sign-out a cross-site page could cause: a form POST to the revocation
	// endpoint (any token, even an unknown one) cleared the cookie.
	{name: "OAuth revocation (form)", status: 200, clears: true,
		send: func(t *testing.T, e *secCSRFEnv, h ...string) *secResponse {
			return secFormPost(t, e, "/oauth/revoke", url.Values{"token": {"not-a-token"}}, h...)
		}},
	{name: "canonical sign-out", status: 204, clears: true,
		send: func(t *testing.T, e *secCSRFEnv, h ...string) *secResponse {
			return secMustDo(t, e.s, "POST", "/auth/sign-out", "", "", append(h, "Authorization: Bearer "+e.v.Access)...)
		}},
	{name: "Feathers sign-out", status: 200, clears: true,
		send: func(t *testing.T, e *secCSRFEnv, h ...string) *secResponse {
			return secMustDo(t, e.s, "DELETE", "/authentication", "", "", append(h, "Authorization: Bearer "+e.v.Access)...)
		}},
}

// secRefreshCookie returns the response's refresh cookie header, or "".
func secRefreshCookie(r *secResponse) string {
	for _, c := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "refreshToken=") {
			return c
		}
	}
	return ""
}

func TestCrossSiteRequestsNeverTouchTheRefreshCookie(t *testing.T) {
	const app = "https://app.example.com"
	for _, rt := range secCSRFRoutes {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			s := servertest.Start(t, func(c *config.Config) { c.CORSAllowedOrigins = config.Origins{app} })
			s.SignUp(t, "mallory@example.com", secPassword)
			env := func() *secCSRFEnv { return &secCSRFEnv{s: s, v: secSignIn(t, s, "victim@example.com")} }
			for ctx, h := range secCrossSite {
				e := env()
				before := secSession(t, s, e.v.SID)
				r := rt.send(t, e, h...)
				if c := secRefreshCookie(r); c != "" {
					t.Errorf("%s: the cross-site request got Set-Cookie %q", ctx, c)
				}
				switch {
				case rt.refused && r.Status != http.StatusForbidden:
					t.Errorf("%s: %d %s, want 403", ctx, r.Status, r.Body)
				case rt.refused:
					var m map[string]any
					if err := jsonUnmarshal(r.Body, &m); err != nil || (m["error"] != rt.error && m["name"] != rt.error) ||
						(m["error_reason"] != nil && m["error_reason"] != "cross_site_request") {
						t.Errorf("%s: body %s, want %s", ctx, r.Body, rt.error)
					}
				case r.Status != rt.status:
					t.Errorf("%s: %d %s, want %d without the cookie", ctx, r.Status, r.Body, rt.status)
				}
				if after := secSession(t, s, e.v.SID); rt.refused && after != before {
					t.Errorf("%s: the refused request changed the session:\nbefore %+v\n after %+v", ctx, before, after)
				}
			}
			// The legitimate contexts get the cookie (set, or cleared).
			for ctx, h := range map[string][]string{
				"the same origin":      {"Origin: " + s.URL, "Sec-Fetch-Site: same-origin"},
				"an allowed origin":    {"Origin: " + app, "Sec-Fetch-Site: cross-site"},
				"a non-browser client": nil,
			} {
				e := env()
				r := rt.send(t, e, h...)
				c := secRefreshCookie(r)
				if r.Status != rt.status || c == "" {
					t.Errorf("%s: %d, Set-Cookie %q, want %d with the cookie: %s", ctx, r.Status, c, rt.status, r.Body)
					continue
				}
				if cleared := strings.Contains(c, "Max-Age=0"); cleared != rt.clears {
					t.Errorf("%s: Set-Cookie %q; want it cleared: %v", ctx, c, rt.clears)
				}
				if rt.spent && !rt.clears && secSession(t, s, e.v.SID).Generation == 1 {
					t.Errorf("%s: the session was not refreshed", ctx)
				}
			}
		})
	}
}

// With the cookie off there is nothing to plant: a cross-site sign-in is
// answered as before. Behind a proxy that rewrites Host, a page of the
// public origin (PUBLIC_URL) is still same-origin.
func TestCrossSiteRuleFollowsTheCookieAndThePublicOrigin(t *testing.T) {
	creds := `{"email":"victim@example.com","password":"` + secPassword + `"}`
	off := servertest.Start(t, func(c *config.Config) { c.RefreshCookie = false })
	off.SignUp(t, "victim@example.com", secPassword)
	if r := secMustDo(t, off, "POST", "/auth/sign-in", "application/json", creds, "Origin: "+secEvil); r.Status != 200 || secRefreshCookie(r) != "" {
		t.Fatalf("cookie off, cross-site sign-in: %d %v", r.Status, r.Header)
	}

	s := servertest.Start(t, func(c *config.Config) { c.PublicURL = "https://auth.example.com" })
	s.SignUp(t, "victim@example.com", secPassword)
	req, err := http.NewRequest("POST", s.URL+"/auth/sign-in", strings.NewReader(creds))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "latchkey.internal:8080" // what the proxy forwarded
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://auth.example.com")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(resp.Cookies()) != 1 {
		t.Fatalf("the public origin behind a proxy: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
}
