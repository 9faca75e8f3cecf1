package login_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/internal/golden"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// The exact requests aurelia-authentication 3.8.3 makes with its defaults
// (baseUrl "", loginUrl "/auth/login", signupUrl "/auth/signup",
// profileUrl "/auth/me", refreshTokenUrl null = loginUrl), as built by
// src/authService.js and serialised by aurelia-api 3.2.1's Rest.request.
// e2e/aurelia_test.go runs the library itself in Chromium against the real
// binary and checks that these are the requests it sends.

func TestAureliaLogin(t *testing.T) {
	s := servertest.Start(t, nil)
	s.SignUp(t, ann, pw)
	// authService.login(email, password): {email, password}, lines 492-497.
	r := s.Do(t, "POST", "/auth/login", `{"email":"ann@example.com","password":"password123"}`, ctJSON, acceptJS)
	if r.Status != http.StatusOK {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	golden.Assert(t, "testdata/login.json", r.Body)
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers: %v", r.Header)
	}
	var tk tokens
	r.JSON(t, &tk)
	if tk.TokenType != "Bearer" || tk.ExpiresIn != 900 || tk.User.Email != ann {
		t.Fatalf("body: %s", r.Body)
	}
	// The access token works on a bearer route (aurelia's interceptor adds
	// "Authorization: Bearer <access_token>", src/fetchClientConfig.js line 41).
	if me := s.Do(t, "GET", "/auth/me", nil, "Authorization: Bearer "+tk.AccessToken); me.Status != http.StatusOK {
		t.Fatalf("me: %d %s", me.Status, me.Body)
	}
}

func TestAureliaRefreshWithExpiredAccessToken(t *testing.T) {
	s := servertest.Start(t, nil)
	tk := login(t, s)
	// The access token has expired: aurelia's autoUpdateToken fires now,
	// and the old token may still ride along in Authorization.
	s.Clock.Advance(16 * time.Minute)
	// updateToken(): {grant_type, refresh_token}, lines 395-406.
	r := s.Do(t, "POST", "/auth/login", refreshBody(tk.RefreshToken), ctJSON, acceptJS, "Authorization: Bearer "+tk.AccessToken)
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	golden.Assert(t, "testdata/refresh.json", r.Body)
	var nt tokens
	r.JSON(t, &nt)
	if nt.AccessToken == tk.AccessToken || nt.RefreshToken == tk.RefreshToken || nt.User.ID != tk.User.ID || nt.ExpiresIn != 900 {
		t.Fatalf("not all new tokens for the same user: %s", r.Body)
	}
	// The Authorization header is never a reason to refuse, whatever it holds.
	for _, h := range []string{"Authorization: Bearer not-a-token", "Authorization: Basic Zm9vOg==", "Authorization: Bearer " + tk.RefreshToken} {
		r := s.Do(t, "POST", "/auth/login", refreshBody(nt.RefreshToken), ctJSON, h)
		if r.Status != http.StatusOK {
			t.Fatalf("with %q: %d %s", h, r.Status, r.Body)
		}
		r.JSON(t, &nt)
	}
}

func TestAureliaClientID(t *testing.T) {
	s := servertest.Start(t, nil)
	s.SignUp(t, ann, pw)
	// clientId set: login adds client_id after the credentials (lines 502-504).
	r := s.Do(t, "POST", "/auth/login", `{"email":"ann@example.com","password":"password123","client_id":"my-spa"}`, ctJSON, acceptJS)
	if r.Status != http.StatusOK {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	var tk tokens
	r.JSON(t, &tk)
	// updateToken puts client_id between grant_type and refresh_token (lines 395-406).
	body := `{"grant_type":"refresh_token","client_id":"my-spa","refresh_token":"` + tk.RefreshToken + `"}`
	if r := s.Do(t, "POST", "/auth/login", body, ctJSON, acceptJS); r.Status != http.StatusOK {
		t.Fatalf("refresh with client_id: %d %s", r.Status, r.Body)
	} else {
		r.JSON(t, &tk)
	}
	// A refresh token is bound to its client (RFC 6749 §6).
	other := `{"grant_type":"refresh_token","client_id":"other-app","refresh_token":"` + tk.RefreshToken + `"}`
	r = s.Do(t, "POST", "/auth/login", other, ctJSON)
	if r.Status != http.StatusBadRequest || r.Map(t)["error_reason"] != "refresh_token_invalid" {
		t.Fatalf("other client: %d %s", r.Status, r.Body)
	}
}

// An app that sets defaultHeadersForTokenRequests to form encoding gets
// aurelia-api's buildQueryString body (src/rest.js lines 76-79).
func TestAureliaFormEncoded(t *testing.T) {
	s := servertest.Start(t, nil)
	s.SignUp(t, ann, pw)
	r := s.Do(t, "POST", "/auth/login", "email=ann%40example.com&password=password123", ctForm+";charset=UTF-8")
	if r.Status != http.StatusOK {
		t.Fatalf("form login: %d %s", r.Status, r.Body)
	}
	var tk tokens
	r.JSON(t, &tk)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken}}.Encode()
	if r := s.Do(t, "POST", "/auth/login", form, ctForm); r.Status != http.StatusOK {
		t.Fatalf("form refresh: %d %s", r.Status, r.Body)
	}
}

func TestAureliaSignup(t *testing.T) {
	s := servertest.Start(t, nil)
	// signup(displayName, email, password): {displayName, email, password},
	// lines 455-460; loginOnSignup (default true) reads it as a login.
	r := s.Do(t, "POST", "/auth/signup", `{"displayName":"Ann","email":"Ann@Example.com ","password":"password123"}`, ctJSON, acceptJS)
	if r.Status != http.StatusCreated {
		t.Fatalf("signup: %d %s", r.Status, r.Body)
	}
	golden.Assert(t, "testdata/signup.json", r.Body)
	var tk tokens
	r.JSON(t, &tk)
	if tk.User.Email != ann || tk.RefreshToken == "" {
		t.Fatalf("signup: %s", r.Body)
	}
	// A second sign-up with the same email: 409.
	r = s.Do(t, "POST", "/auth/signup", `{"email":"ann@example.com","password":"password123"}`, ctJSON)
	if r.Status != http.StatusConflict {
		t.Fatalf("second signup: %d %s", r.Status, r.Body)
	}
	golden.Assert(t, "testdata/signup_email_taken.json", r.Body)
	// The tokens of the sign-up refresh like a login's.
	if r := s.Do(t, "POST", "/auth/login", refreshBody(tk.RefreshToken), ctJSON); r.Status != http.StatusOK {
		t.Fatalf("refresh after signup: %d %s", r.Status, r.Body)
	}
}

func TestLoginSetsRefreshCookie(t *testing.T) {
	s := servertest.Start(t, nil)
	s.SignUp(t, ann, pw)
	r := s.Do(t, "POST", "/auth/login", `{"email":"ann@example.com","password":"password123"}`, ctJSON)
	var tk tokens
	r.JSON(t, &tk)
	cks := setCookies(r)
	if len(cks) != 1 || cks[0].Name != "refreshToken" || cks[0].Value != tk.RefreshToken || cks[0].Path != "/api/refresh" || !cks[0].HttpOnly {
		t.Fatalf("cookie: %+v", cks)
	}
	r = s.Do(t, "POST", "/auth/login", refreshBody(tk.RefreshToken), ctJSON)
	r.JSON(t, &tk)
	if cks := setCookies(r); len(cks) != 1 || cks[0].Value != tk.RefreshToken {
		t.Fatalf("refresh cookie: %+v", cks)
	}
	// REFRESH_COOKIE=off: no cookie from any route of this dialect.
	off := servertest.Start(t, func(c *config.Config) { c.RefreshCookie = false })
	off.SignUp(t, ann, pw)
	for _, req := range []struct{ path, body string }{
		{"/auth/login", `{"email":"ann@example.com","password":"password123"}`},
		{"/auth/signup", `{"email":"bob@example.com","password":"password123"}`},
	} {
		r := off.Do(t, "POST", req.path, req.body, ctJSON)
		if r.Status >= 300 || len(setCookies(r)) != 0 || strings.Contains(r.Header.Get("Set-Cookie"), "refreshToken") {
			t.Fatalf("%s with REFRESH_COOKIE=off: %d %v", req.path, r.Status, r.Header)
		}
	}
}
