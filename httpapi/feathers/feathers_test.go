package feathers_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/httpapi/feathers"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

const (
	email = "ann@example.com"
	pw    = "password123"
)

// authResult is the part of a Feathers authentication result the tests
// read.
type authResult struct {
	AccessToken    string `json:"accessToken"`
	RefreshToken   string `json:"refreshToken"`
	Authentication struct {
		Strategy    string         `json:"strategy"`
		AccessToken string         `json:"accessToken"`
		Payload     map[string]any `json:"payload"`
	} `json:"authentication"`
	User struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"user"`
}

func local(t *testing.T, s *servertest.Server) (*servertest.Response, authResult) {
	t.Helper()
	s.Do(t, "POST", "/auth/sign-up", map[string]string{"email": email, "password": pw})
	r := s.Do(t, "POST", "/authentication", map[string]string{"strategy": "local", "email": email, "password": pw})
	if r.Status != http.StatusCreated {
		t.Fatalf("local: %d %s", r.Status, r.Body)
	}
	var res authResult
	r.JSON(t, &res)
	return r, res
}

func refresh(t *testing.T, s *servertest.Server, rt string) *servertest.Response {
	t.Helper()
	return s.Do(t, "POST", "/authentication", map[string]string{"action": "refresh", "refresh_token": rt})
}

// wantFeathersError checks the Feathers error shape (what convert() in
// @feathersjs/errors reads) and the reason in data.
func wantFeathersError(t *testing.T, r *servertest.Response, code int, name, className, reason string) {
	t.Helper()
	if r.Status != code {
		t.Fatalf("status %d, want %d: %s", r.Status, code, r.Body)
	}
	var e struct {
		Name, Message, ClassName string
		Code                     int
		Data                     struct{ Reason string }
	}
	r.JSON(t, &e)
	if e.Name != name || e.Code != code || e.ClassName != className || e.Message == "" || e.Data.Reason != reason {
		t.Fatalf("body %s, want %s/%d/%s with reason %q", r.Body, name, code, className, reason)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

func TestLocalSignIn(t *testing.T) {
	s := servertest.Start(t, nil)
	r, res := local(t, s)
	golden(t, s, "create-local", r)
	if res.AccessToken == "" || res.AccessToken != res.Authentication.AccessToken || res.RefreshToken == "" {
		t.Fatalf("tokens: %s", r.Body)
	}
	p := res.Authentication.Payload
	if p["sub"] != res.User.ID || p["token_use"] != "access" || p["exp"].(float64)-p["iat"].(float64) != 900 || p["sid"] == nil || p["jti"] == nil {
		t.Fatalf("payload is not the access token's claims: %v", p)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token responses must not be cached: %v", r.Header)
	}
	// REFRESH_COOKIE is on by default: every sign-in sets the cookie.
	ck := cookie(r, "refreshToken")
	if ck == nil || ck.Value != res.RefreshToken || !ck.HttpOnly || ck.Path != "/api/refresh" {
		t.Fatalf("refresh cookie: %v", r.Header.Values("Set-Cookie"))
	}
	// The access token is a Latchkey access token like any other.
	if me := s.Do(t, "GET", "/auth/me", nil, "Authorization: Bearer "+res.AccessToken); me.Status != http.StatusOK {
		t.Fatalf("me: %d %s", me.Status, me.Body)
	}
}

func TestLocalSignInWithoutCookie(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.RefreshCookie = false })
	r, _ := local(t, s)
	if v := r.Header.Values("Set-Cookie"); len(v) != 0 {
		t.Fatalf("REFRESH_COOKIE=off set a cookie: %v", v)
	}
}

func TestReAuthenticateWithJWT(t *testing.T) {
	s := servertest.Start(t, nil)
	_, res := local(t, s)
	s.Clock.Advance(time.Minute)
	r := s.Do(t, "POST", "/authentication", map[string]string{"strategy": "jwt", "accessToken": res.AccessToken})
	golden(t, s, "create-jwt", r)
	var re authResult
	r.JSON(t, &re)
	// The client stores re.accessToken: it must be the token it sent.
	if re.AccessToken != res.AccessToken || re.Authentication.Strategy != "jwt" || re.User.ID != res.User.ID {
		t.Fatalf("jwt: %s", r.Body)
	}
	if v := r.Header.Values("Set-Cookie"); len(v) != 0 {
		t.Fatalf("re-authentication set a cookie: %v", v)
	}
}

func TestRefresh(t *testing.T) {
	s := servertest.Start(t, nil)
	_, res := local(t, s)
	s.Clock.Advance(time.Minute)
	// Refresh payloads may also carry a strategy; action "refresh" wins.
	r := s.Do(t, "POST", "/authentication", map[string]string{"strategy": "local", "action": "refresh", "refresh_token": res.RefreshToken})
	golden(t, s, "create-refresh", r)
	var out authResult
	r.JSON(t, &out)
	if out.AccessToken == res.AccessToken || out.RefreshToken == res.RefreshToken || out.User.ID != res.User.ID ||
		out.Authentication.Payload["sid"] != res.Authentication.Payload["sid"] {
		t.Fatalf("not rotated in the same session: %s", r.Body)
	}
	if ck := cookie(r, "refreshToken"); ck == nil || ck.Value != out.RefreshToken {
		t.Fatalf("refresh cookie not set again: %v", r.Header.Values("Set-Cookie"))
	}
	// The sign-in response's spelling, refreshToken, is accepted too.
	r = s.Do(t, "POST", "/authentication", map[string]string{"action": "refresh", "refreshToken": out.RefreshToken})
	if r.Status != http.StatusCreated {
		t.Fatalf("refreshToken spelling: %d %s", r.Status, r.Body)
	}
}

func TestNotAuthenticated(t *testing.T) {
	s := servertest.Start(t, nil)
	_, res := local(t, s)
	cases := []struct {
		name   string
		body   any
		reason string
	}{
		{"wrong-password", map[string]string{"strategy": "local", "email": email, "password": "wrong-password"}, "invalid_credentials"},
		{"unknown-email", map[string]string{"strategy": "local", "email": "bob@example.com", "password": pw}, "invalid_credentials"},
		{"refresh-token-as-access-token", map[string]string{"strategy": "jwt", "accessToken": res.RefreshToken}, "invalid_token"},
		{"bad-access-token", map[string]string{"strategy": "jwt", "accessToken": "not-a-token"}, "invalid_token"},
		{"no-access-token", map[string]string{"strategy": "jwt"}, "invalid_token"},
		{"access-token-as-refresh-token", map[string]string{"action": "refresh", "refresh_token": res.AccessToken}, "refresh_token_invalid"},
		{"no-refresh-token", map[string]string{"action": "refresh"}, "refresh_token_invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.Do(t, "POST", "/authentication", c.body)
			wantFeathersError(t, r, 401, "NotAuthenticated", "not-authenticated", c.reason)
			golden(t, s, "error-"+c.name, r)
		})
	}
}

func TestReusedRefreshTokenRevokesTheSession(t *testing.T) {
	s := servertest.Start(t, nil)
	_, res := local(t, s)
	r := refresh(t, s, res.RefreshToken)
	var cur authResult
	r.JSON(t, &cur)
	s.Clock.Advance(11 * time.Second) // past REFRESH_TOKEN_REUSE_INTERVAL (10s)
	r = refresh(t, s, res.RefreshToken)
	wantFeathersError(t, r, 401, "NotAuthenticated", "not-authenticated", "refresh_token_reused")
	golden(t, s, "error-refresh-reused", r)
	// The whole family is dead: the current token fails too.
	wantFeathersError(t, refresh(t, s, cur.RefreshToken), 401, "NotAuthenticated", "not-authenticated", "refresh_token_reused")
}

func TestExpiredRefreshToken(t *testing.T) {
	s := servertest.Start(t, nil)
	_, res := local(t, s)
	s.Clock.Advance(24 * time.Hour) // JWT_REFRESH_EXPIRES_IN, exactly: no leeway
	r := refresh(t, s, res.RefreshToken)
	wantFeathersError(t, r, 401, "NotAuthenticated", "not-authenticated", "refresh_token_expired")
	golden(t, s, "error-refresh-expired", r)
}

func TestInactiveUser(t *testing.T) {
	s := servertest.Start(t, nil)
	_, res := local(t, s)
	if _, err := s.App.Service.SetUserActive(context.Background(), email, false); err != nil {
		t.Fatal(err)
	}
	r := s.Do(t, "POST", "/authentication", map[string]string{"strategy": "local", "email": email, "password": pw})
	wantFeathersError(t, r, 401, "NotAuthenticated", "not-authenticated", "user_inactive")
	r = s.Do(t, "POST", "/authentication", map[string]string{"strategy": "jwt", "accessToken": res.AccessToken})
	wantFeathersError(t, r, 401, "NotAuthenticated", "not-authenticated", "user_inactive")
	r = refresh(t, s, res.RefreshToken) // deactivation revoked the session
	wantFeathersError(t, r, 401, "NotAuthenticated", "not-authenticated", "session_revoked")
}

func TestBadRequest(t *testing.T) {
	s := servertest.Start(t, nil)
	cases := []struct {
		name, body, ctype string
	}{
		{"malformed-json", `{"strategy": "local",`, "application/json"},
		{"wrong-type", `{"strategy": "local", "email": 42, "password": "x"}`, "application/json"},
		{"wrong-type-refresh-token", `{"action": "refresh", "refresh_token": ["a"]}`, "application/json"},
		{"not-an-object", `["local"]`, "application/json"},
		{"empty-body", ``, "application/json"},
		{"form-body", `strategy=local&email=a%40b.c&password=x`, "application/x-www-form-urlencoded"},
		{"no-strategy", `{"email": "ann@example.com", "password": "password123"}`, "application/json"},
		{"unknown-strategy", `{"strategy": "oauth", "email": "ann@example.com"}`, "application/json"},
		{"unknown-action", `{"action": "logout", "strategy": "local"}`, "application/json"},
		{"missing-password", `{"strategy": "local", "email": "ann@example.com"}`, "application/json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.Do(t, "POST", "/authentication", c.body, "Content-Type: "+c.ctype)
			wantFeathersError(t, r, 400, "BadRequest", "bad-request", "invalid_request")
			golden(t, s, "error-"+c.name, r)
		})
	}
}

func TestExtraFieldsAreIgnored(t *testing.T) {
	s := servertest.Start(t, nil)
	s.SignUp(t, email, pw)
	r := s.Do(t, "POST", "/authentication", map[string]any{"strategy": "local", "email": email, "password": pw,
		"deviceName": "phone", "query": map[string]any{"$limit": 1}})
	if r.Status != http.StatusCreated {
		t.Fatalf("extra fields: %d %s", r.Status, r.Body)
	}
}

func TestBodyTooLarge(t *testing.T) {
	s := servertest.Start(t, nil)
	body := `{"strategy": "local", "email": "ann@example.com", "password": "` + strings.Repeat("x", 64<<10) + `"}`
	r := s.Do(t, "POST", "/authentication", body, "Content-Type: application/json")
	wantFeathersError(t, r, 413, "PayloadTooLarge", "payload-too-large", "request_too_large")
	golden(t, s, "error-body-too-large", r)
}

func TestRemoveSignsOut(t *testing.T) {
	s := servertest.Start(t, nil)
	_, res := local(t, s)
	// What the client's logout() sends: remove(null), no body.
	r := s.Do(t, "DELETE", "/authentication", nil, "Authorization: Bearer "+res.AccessToken, "Accept: application/json")
	golden(t, s, "remove", r)
	var out authResult
	r.JSON(t, &out)
	if out.AccessToken != res.AccessToken || out.Authentication.Strategy != "jwt" || out.User.ID != res.User.ID {
		t.Fatalf("remove: %s", r.Body)
	}
	if ck := cookie(r, "refreshToken"); ck == nil || ck.MaxAge >= 0 {
		t.Fatalf("refresh cookie not cleared: %v", r.Header.Values("Set-Cookie"))
	}
	wantFeathersError(t, refresh(t, s, res.RefreshToken), 401, "NotAuthenticated", "not-authenticated", "session_revoked")
	// After logout the client cannot re-authenticate with the access token it still holds.
	r = s.Do(t, "POST", "/authentication", map[string]string{"strategy": "jwt", "accessToken": res.AccessToken})
	wantFeathersError(t, r, 401, "NotAuthenticated", "not-authenticated", "session_revoked")
}

func TestRemoveWithID(t *testing.T) {
	s := servertest.Start(t, nil)
	_, res := local(t, s)
	_, other := local(t, s)
	// remove(id): the id must be the bearer token itself.
	r := s.Do(t, "DELETE", "/authentication/"+other.AccessToken, nil, "Authorization: Bearer "+res.AccessToken)
	wantFeathersError(t, r, 401, "NotAuthenticated", "not-authenticated", "invalid_token")
	if r := refresh(t, s, other.RefreshToken); r.Status != http.StatusCreated {
		t.Fatalf("a refused remove signed out: %d %s", r.Status, r.Body)
	}
	r = s.Do(t, "DELETE", "/authentication/"+res.AccessToken, nil, "Authorization: Bearer "+res.AccessToken)
	if r.Status != http.StatusOK {
		t.Fatalf("remove(id): %d %s", r.Status, r.Body)
	}
	wantFeathersError(t, refresh(t, s, res.RefreshToken), 401, "NotAuthenticated", "not-authenticated", "session_revoked")
}

func TestRemoveNeedsAnAccessToken(t *testing.T) {
	s := servertest.Start(t, nil)
	_, res := local(t, s)
	for name, h := range map[string]string{
		"no-authorization": "Accept: application/json",
		"refresh-token":    "Authorization: Bearer " + res.RefreshToken,
		"basic":            "Authorization: Basic YTpi",
	} {
		t.Run(name, func(t *testing.T) {
			wantFeathersError(t, s.Do(t, "DELETE", "/authentication", nil, h), 401, "NotAuthenticated", "not-authenticated", "invalid_token")
		})
	}
	if r := refresh(t, s, res.RefreshToken); r.Status != http.StatusCreated {
		t.Fatalf("a refused remove signed out: %d %s", r.Status, r.Body)
	}
}

func TestOtherMethodsAreNotAllowed(t *testing.T) {
	s := servertest.Start(t, nil)
	r := s.Do(t, "GET", "/authentication", nil)
	wantFeathersError(t, r, 405, "MethodNotAllowed", "method-not-allowed", "method_not_allowed")
	golden(t, s, "error-find", r)
	if r.Header.Get("Allow") != "POST, DELETE" {
		t.Fatalf("Allow: %v", r.Header)
	}
	wantFeathersError(t, s.Do(t, "PATCH", "/authentication/x", `{}`, "Content-Type: application/json"), 405,
		"MethodNotAllowed", "method-not-allowed", "method_not_allowed")
}

func TestRateLimited(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) {
		c.RateLimits = true
		c.RateLimitSigninFailuresAccount = config.Rate{Count: 1, Per: time.Minute}
	})
	s.SignUp(t, email, pw)
	bad := map[string]string{"strategy": "local", "email": email, "password": "wrong-password"}
	wantFeathersError(t, s.Do(t, "POST", "/authentication", bad), 401, "NotAuthenticated", "not-authenticated", "invalid_credentials")
	r := s.Do(t, "POST", "/authentication", bad)
	wantFeathersError(t, r, 429, "TooManyRequests", "too-many-requests", "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After: %v", r.Header)
	}
	golden(t, s, "error-rate-limited", r)
}

func TestDialectOff(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.Dialects = config.Dialects{latchkey.Canonical} })
	s.SignUp(t, email, pw)
	for _, m := range []string{"POST", "DELETE"} {
		r := s.Do(t, m, "/authentication", map[string]string{"strategy": "local", "email": email, "password": pw})
		if r.Status != http.StatusNotFound {
			t.Fatalf("%s /authentication with the dialect off: %d %s", m, r.Status, r.Body)
		}
	}
}

// WriteError is the one mapping; the statuses no request can provoke here
// (a database outage, an unknown failure) are checked on it directly.
func TestWriteError(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		code       int
		body       string
		retryAfter string
	}{
		{"unavailable", &auth.Error{Code: auth.CodeUnavailable, Message: "the service is temporarily unavailable; retry later",
			Err: errors.New("dial tcp: refused"), RetryAfter: 2 * time.Second}, 503,
			`{"name":"Unavailable","message":"the service is temporarily unavailable; retry later","code":503,"className":"unavailable","data":{"reason":"temporarily_unavailable"}}`, "2"},
		{"unknown", errors.New("secret cause: table users is locked"), 500,
			`{"name":"GeneralError","message":"internal error","code":500,"className":"general-error"}`, ""},
		{"unknown auth code", &auth.Error{Code: "new_code", Message: "secret detail"}, 500,
			`{"name":"GeneralError","message":"internal error","code":500,"className":"general-error"}`, ""},
		{"plumbing 5xx", &httpapi.Error{Status: 503, Code: "database_unavailable", Message: "secret detail"}, 500,
			`{"name":"GeneralError","message":"internal error","code":500,"className":"general-error"}`, ""},
		{"not implemented", &auth.Error{Code: auth.CodeNotImplemented, Message: "access-token renewal is not enabled"}, 501,
			`{"name":"NotImplemented","message":"access-token renewal is not enabled","code":501,"className":"not-implemented","data":{"reason":"not_implemented"}}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			feathers.WriteError(w, httptest.NewRequest("POST", "/authentication", nil), c.err)
			if w.Code != c.code || strings.TrimSpace(w.Body.String()) != c.body || w.Header().Get("Retry-After") != c.retryAfter {
				t.Fatalf("got %d %s (Retry-After %q), want %d %s (Retry-After %q)", w.Code, w.Body, w.Header().Get("Retry-After"),
					c.code, c.body, c.retryAfter)
			}
			if !json.Valid(w.Body.Bytes()) || w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("headers %v", w.Header())
			}
		})
	}
}

func cookie(r *servertest.Response, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
