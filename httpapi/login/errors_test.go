package login_test

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

// Every error status of the dialect, each body checked against a golden
// file in testdata/error_<name>.json.
func TestErrors(t *testing.T) {
	signIn := func(body string) func(*testing.T, *servertest.Server) *servertest.Response {
		return func(t *testing.T, s *servertest.Server) *servertest.Response {
			s.SignUp(t, ann, pw)
			return s.Do(t, "POST", "/auth/login", body, ctJSON)
		}
	}
	raw := func(path, body string, headers ...string) func(*testing.T, *servertest.Server) *servertest.Response {
		return func(t *testing.T, s *servertest.Server) *servertest.Response {
			return s.Do(t, "POST", path, body, headers...)
		}
	}
	refresh := func(prep func(*testing.T, *servertest.Server, tokens) string) func(*testing.T, *servertest.Server) *servertest.Response {
		return func(t *testing.T, s *servertest.Server) *servertest.Response {
			rt := prep(t, s, login(t, s))
			return s.Do(t, "POST", "/auth/login", refreshBody(rt), ctJSON, acceptJS)
		}
	}
	for _, c := range []struct {
		name   string
		mod    func(*config.Config)
		do     func(*testing.T, *servertest.Server) *servertest.Response
		status int
	}{
		// Sign-in.
		{name: "wrong_password", status: 401, do: signIn(`{"email":"ann@example.com","password":"wrong-password"}`)},
		{name: "unknown_email", status: 401, do: signIn(`{"email":"nobody@example.com","password":"password123"}`)},
		{name: "missing_password", status: 400, do: signIn(`{"email":"ann@example.com"}`)},
		{name: "user_inactive", status: 403, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			s.SignUp(t, ann, pw)
			deactivate(t, s)
			return s.Do(t, "POST", "/auth/login", `{"email":"ann@example.com","password":"password123"}`, ctJSON)
		}},
		{name: "client_secret", status: 401, do: signIn(`{"email":"ann@example.com","password":"password123","client_id":"spa","client_secret":"s3cret"}`)},
		{name: "unsupported_grant_type", status: 400, do: signIn(`{"grant_type":"authorization_code","code":"x"}`)},
		{name: "rate_limited", status: 429, mod: func(c *config.Config) {
			c.RateLimits = true
			c.RateLimitSigninFailuresAccount = config.Rate{Count: 2, Per: 15 * time.Minute}
		}, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			s.SignUp(t, ann, pw)
			for range 2 {
				s.Do(t, "POST", "/auth/login", `{"email":"ann@example.com","password":"wrong-password"}`, ctJSON)
			}
			return s.Do(t, "POST", "/auth/login", `{"email":"ann@example.com","password":"password123"}`, ctJSON)
		}},
		{name: "unavailable", status: 503, do: func(t *testing.T, s *servertest.Server) *servertest.Response {
			s.SignUp(t, ann, pw)
			s.App.Store.Close()
			return s.Do(t, "POST", "/auth/login", `{"email":"ann@example.com","password":"password123"}`, ctJSON)
		}},

		// Refresh: every refusal of the token is a 400 invalid_grant with
		// the reason in error_reason.
		{name: "refresh_invalid", status: 400, do: refresh(func(*testing.T, *servertest.Server, tokens) string { return "garbage" })},
		{name: "refresh_access_token", status: 400, do: refresh(func(_ *testing.T, _ *servertest.Server, tk tokens) string { return tk.AccessToken })},
		{name: "refresh_expired", status: 400, do: refresh(func(_ *testing.T, s *servertest.Server, tk tokens) string {
			s.Clock.Advance(24*time.Hour + time.Second) // JWT_REFRESH_EXPIRES_IN
			return tk.RefreshToken
		})},
		{name: "refresh_reused", status: 400, do: refresh(func(t *testing.T, s *servertest.Server, tk tokens) string {
			if r := s.Do(t, "POST", "/auth/login", refreshBody(tk.RefreshToken), ctJSON); r.Status != 200 {
				t.Fatalf("first refresh: %d %s", r.Status, r.Body)
			}
			s.Clock.Advance(11 * time.Second) // past REFRESH_TOKEN_REUSE_INTERVAL
			return tk.RefreshToken
		})},
		{name: "refresh_user_deactivated", status: 400, do: refresh(func(t *testing.T, s *servertest.Server, tk tokens) string {
			deactivate(t, s)
			return tk.RefreshToken
		})},
		{name: "refresh_missing_token", status: 400, do: raw("/auth/login", `{"grant_type":"refresh_token"}`, ctJSON)},
		{name: "refresh_rate_limited", status: 429, mod: func(c *config.Config) {
			c.RateLimits = true
			c.RateLimitRefreshIP = config.Rate{Count: 1, Per: time.Minute}
		}, do: refresh(func(t *testing.T, s *servertest.Server, tk tokens) string {
			r := s.Do(t, "POST", "/auth/login", refreshBody(tk.RefreshToken), ctJSON)
			r.JSON(t, &tk)
			return tk.RefreshToken
		})},
		{name: "refresh_unavailable", status: 503, do: refresh(func(_ *testing.T, s *servertest.Server, tk tokens) string {
			s.App.Store.Close()
			return tk.RefreshToken
		})},

		// Sign-up.
		{name: "signup_bad_email", status: 400, do: raw("/auth/signup", `{"email":"not-an-email","password":"password123"}`, ctJSON)},
		{name: "signup_short_password", status: 400, do: raw("/auth/signup", `{"email":"ann@example.com","password":"short"}`, ctJSON)},
		{name: "signup_malformed_json", status: 400, do: raw("/auth/signup", `{"email":`, ctJSON)},

		// Bad input, in the dialect's shape, never a 5xx.
		{name: "malformed_json", status: 400, do: raw("/auth/login", `{"email":"ann@example.com",`, ctJSON)},
		{name: "not_an_object", status: 400, do: raw("/auth/login", `["ann@example.com"]`, ctJSON)},
		{name: "wrong_type", status: 400, do: raw("/auth/login", `{"email":true,"password":"password123"}`, ctJSON)},
		{name: "nested_value", status: 400, do: raw("/auth/login", `{"grant_type":"refresh_token","refresh_token":{"token":"x"}}`, ctJSON)},
		{name: "repeated_parameter", status: 400, do: raw("/auth/login", `{"email":"a@example.com","email":"b@example.com"}`, ctJSON)},
		{name: "trailing_data", status: 400, do: raw("/auth/login", `{"email":"ann@example.com"} {}`, ctJSON)},
		{name: "wrong_content_type", status: 400, do: raw("/auth/login", `{"email":"ann@example.com","password":"password123"}`, "Content-Type: text/plain")},
		{name: "missing_content_type", status: 400, do: raw("/auth/login", `{"email":"ann@example.com","password":"password123"}`)},
		{name: "wrong_charset", status: 400, do: raw("/auth/login", `{}`, "Content-Type: application/json; charset=latin1")},
		{name: "empty_json_body", status: 400, do: raw("/auth/login", "", ctJSON)},
		{name: "empty_form_body", status: 400, do: raw("/auth/login", "", ctForm)},
		{name: "bad_form_escape", status: 400, do: raw("/auth/login", "email=%zz", ctForm)},
		{name: "too_large", status: 413, do: raw("/auth/login", `{"email":"`+strings.Repeat("a", 65<<10)+`"}`, ctJSON)},
		{name: "client_id_too_long", status: 400, do: raw("/auth/login", `{"email":"a@example.com","password":"x","client_id":"`+strings.Repeat("c", 201)+`"}`, ctJSON)},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := servertest.Start(t, c.mod)
			r := c.do(t, s)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("Cache-Control %q", r.Header.Get("Cache-Control"))
			}
			if wantRetry := c.status == 429 || c.status == 503; (r.Header.Get("Retry-After") != "") != wantRetry {
				t.Fatalf("Retry-After %q on a %d", r.Header.Get("Retry-After"), c.status)
			}
			if strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
				t.Fatal("a Basic challenge makes browsers prompt for a password")
			}
			if len(setCookies(r)) != 0 {
				t.Fatalf("an error set a cookie: %v", r.Header["Set-Cookie"])
			}
			golden.Assert(t, "testdata/error_"+c.name+".json", r.Body)
		})
	}
}

// After a detected reuse the whole session is revoked: the current token
// fails too (RFC 6819 §5.2.2.3).
func TestReuseRevokesTheSession(t *testing.T) {
	s := servertest.Start(t, nil)
	tk := login(t, s)
	var nt tokens
	s.Do(t, "POST", "/auth/login", refreshBody(tk.RefreshToken), ctJSON).JSON(t, &nt)
	// Inside the reuse interval the previous token yields the current
	// tokens (two tabs refreshing at once).
	s.Clock.Advance(5 * time.Second)
	if r := s.Do(t, "POST", "/auth/login", refreshBody(tk.RefreshToken), ctJSON); r.Status != http.StatusOK {
		t.Fatalf("inside the reuse interval: %d %s", r.Status, r.Body)
	}
	s.Clock.Advance(6 * time.Second)
	if r := s.Do(t, "POST", "/auth/login", refreshBody(tk.RefreshToken), ctJSON); r.Status != http.StatusBadRequest || r.Map(t)["error_reason"] != "refresh_token_reused" {
		t.Fatalf("reuse: %d %s", r.Status, r.Body)
	}
	r := s.Do(t, "POST", "/auth/login", refreshBody(nt.RefreshToken), ctJSON)
	if r.Status != http.StatusBadRequest || r.Map(t)["error_reason"] != "refresh_token_reused" {
		t.Fatalf("current token after reuse: %d %s", r.Status, r.Body)
	}
}

func deactivate(t *testing.T, s *servertest.Server) {
	t.Helper()
	if _, err := s.App.Service.SetUserActive(context.Background(), ann, false); err != nil {
		t.Fatal(err)
	}
}
