package login_test

import (
	"net/http"
	"testing"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/internal/golden"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

func dialects(names ...string) func(*config.Config) {
	return func(c *config.Config) { c.Dialects = names }
}

// DIALECTS without "login": its routes answer 404, and GET /auth/me is the
// canonical dialect's.
func TestDialectOff(t *testing.T) {
	s := servertest.Start(t, dialects(latchkey.Canonical))
	tk := s.SignIn(t, ann, pw)
	for _, req := range []struct{ method, path, body string }{
		{"POST", "/auth/login", `{"email":"ann@example.com","password":"password123"}`},
		{"POST", "/auth/login", refreshBody(tk.RefreshToken)},
		{"POST", "/auth/signup", `{"email":"bob@example.com","password":"password123"}`},
		{"GET", "/api/refresh/refreshtoken", ""},
	} {
		if r := s.Do(t, req.method, req.path, req.body, ctJSON, "Cookie: refreshToken="+tk.RefreshToken); r.Status != http.StatusNotFound {
			t.Fatalf("%s %s: %d %s", req.method, req.path, r.Status, r.Body)
		}
	}
	if r := s.Do(t, "GET", "/auth/me", nil, "Authorization: Bearer "+tk.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("canonical /auth/me: %d %s", r.Status, r.Body)
	}
	// The refresh token was not consumed by the 404s.
	if r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": tk.RefreshToken}); r.Status != http.StatusOK {
		t.Fatalf("canonical refresh: %d %s", r.Status, r.Body)
	}
}

// DIALECTS=login alone: the whole aurelia flow works, GET /auth/me through
// this dialect, and the other dialects' routes answer 404.
func TestDialectAlone(t *testing.T) {
	s := servertest.Start(t, dialects(latchkey.Login))
	r := s.Do(t, "POST", "/auth/signup", `{"email":"ann@example.com","password":"password123"}`, ctJSON, acceptJS)
	if r.Status != http.StatusCreated {
		t.Fatalf("signup: %d %s", r.Status, r.Body)
	}
	tk := login(t, s)
	r = s.Do(t, "POST", "/auth/login", refreshBody(tk.RefreshToken), ctJSON, acceptJS, "Authorization: Bearer "+tk.AccessToken)
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &tk)
	// aurelia's getMe(): GET profileUrl with the interceptor's bearer token.
	r = s.Do(t, "GET", "/auth/me", nil, acceptJS, "Authorization: Bearer "+tk.AccessToken)
	if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("me: %d %s", r.Status, r.Body)
	}
	golden.Assert(t, "testdata/me.json", r.Body)
	// getMe(criteria) adds a query string, which changes nothing.
	if r := s.Do(t, "GET", "/auth/me?id=1", nil, "Authorization: Bearer "+tk.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("me?id=1: %d %s", r.Status, r.Body)
	}
	for _, c := range []struct{ name, header string }{
		{"error_me_no_token", acceptJS},
		{"error_me_refresh_token", "Authorization: Bearer " + tk.RefreshToken},
	} {
		r := s.Do(t, "GET", "/auth/me", nil, c.header)
		if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: %d %v %s", c.name, r.Status, r.Header, r.Body)
		}
		golden.Assert(t, "testdata/"+c.name+".json", r.Body)
	}
	for _, req := range []struct{ method, path string }{
		{"POST", "/auth/sign-in"}, {"POST", "/token"}, {"POST", "/oauth/token"}, {"GET", "/api/refresh/refreshtoken"},
	} {
		if r := s.Do(t, req.method, req.path, `{}`, ctJSON); r.Status != http.StatusNotFound {
			t.Fatalf("%s %s with only login on: %d %s", req.method, req.path, r.Status, r.Body)
		}
	}
}
