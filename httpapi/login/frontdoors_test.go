package login_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/server/servertest"
)

// One session model, many front doors: a session started through one
// dialect is refreshed through each of the others in turn, each step using
// the refresh token the previous step returned, and it stays one session.
func TestOneSessionManyFrontDoors(t *testing.T) {
	s := servertest.Start(t, nil)
	start := s.SignIn(t, ann, pw) // canonical POST /auth/sign-in
	userID := meID(t, s, start.AccessToken)
	rt := start.RefreshToken
	var access string

	steps := []struct {
		name string
		do   func(rt string) (access, next string)
	}{
		{"login-URL", func(rt string) (string, string) {
			r := s.Do(t, "POST", "/auth/login", refreshBody(rt), ctJSON, acceptJS, "Authorization: Bearer "+start.AccessToken)
			if r.Status != http.StatusOK {
				t.Fatalf("login-URL refresh: %d %s", r.Status, r.Body)
			}
			var tk tokens
			r.JSON(t, &tk)
			return tk.AccessToken, tk.RefreshToken
		}},
		{"cookie", func(rt string) (string, string) {
			r := s.Do(t, "GET", "/api/refresh/refreshtoken", nil, "Cookie: refreshToken="+rt)
			if r.Status != http.StatusOK {
				t.Fatalf("cookie refresh: %d %s", r.Status, r.Body)
			}
			var out struct{ AccessToken string }
			r.JSON(t, &out)
			for _, ck := range setCookies(r) {
				if ck.Name == "refreshToken" {
					return out.AccessToken, ck.Value
				}
			}
			t.Fatalf("cookie refresh set no cookie: %v", r.Header)
			return "", ""
		}},
		{"OAuth 2.0", func(rt string) (string, string) {
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()
			r := s.Do(t, "POST", "/oauth/token", form, ctForm)
			if r.Status != http.StatusOK {
				t.Fatalf("OAuth refresh: %d %s", r.Status, r.Body)
			}
			var tk tokens
			r.JSON(t, &tk)
			return tk.AccessToken, tk.RefreshToken
		}},
		{"canonical", func(rt string) (string, string) {
			r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": rt})
			if r.Status != http.StatusOK {
				t.Fatalf("canonical refresh: %d %s", r.Status, r.Body)
			}
			var tk servertest.Tokens
			r.JSON(t, &tk)
			return tk.AccessToken, tk.RefreshToken
		}},
	}
	for _, step := range steps {
		s.Clock.Advance(time.Minute)
		prev := rt
		access, rt = step.do(rt)
		if rt == "" || rt == prev || access == "" {
			t.Fatalf("%s: no new tokens", step.name)
		}
		if id := meID(t, s, access); id != userID {
			t.Fatalf("%s: user %s, want %s", step.name, id, userID)
		}
	}
	// Still one session, four generations on.
	r := s.Do(t, "GET", "/auth/sessions", nil, "Authorization: Bearer "+access)
	var list struct{ Sessions []struct{ Current bool } }
	r.JSON(t, &list)
	if r.Status != http.StatusOK || len(list.Sessions) != 1 || !list.Sessions[0].Current {
		t.Fatalf("sessions: %d %s", r.Status, r.Body)
	}
	// And reuse detection spans the doors: the canonical sign-in's token,
	// presented at the login URL long after, revokes the session for all.
	if r := s.Do(t, "POST", "/auth/login", refreshBody(start.RefreshToken), ctJSON); r.Status != http.StatusBadRequest ||
		r.Map(t)["error_reason"] != "refresh_token_reused" {
		t.Fatalf("reuse: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "GET", "/api/refresh/refreshtoken", nil, "Cookie: refreshToken="+rt); r.Status != http.StatusBadRequest {
		t.Fatalf("current token after reuse: %d %s", r.Status, r.Body)
	}
}

// The other way round: a login-URL session refreshes through canonical
// POST /token, and its access token renews through POST /token/refresh.
func TestLoginSessionThroughCanonical(t *testing.T) {
	s := servertest.Start(t, nil)
	tk := login(t, s)
	s.Clock.Advance(time.Minute)
	r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": tk.RefreshToken})
	if r.Status != http.StatusOK {
		t.Fatalf("canonical refresh of a login-URL token: %d %s", r.Status, r.Body)
	}
	var ct servertest.Tokens
	r.JSON(t, &ct)
	if ct.RefreshToken == "" || ct.RefreshToken == tk.RefreshToken || meID(t, s, ct.AccessToken) != tk.User.ID {
		t.Fatalf("canonical refresh: %s", r.Body)
	}
	if r := s.Do(t, "POST", "/token/refresh", nil, "Authorization: Bearer "+ct.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("bearer renewal: %d %s", r.Status, r.Body)
	}
	// Back through the login URL with canonical's token.
	if r := s.Do(t, "POST", "/auth/login", refreshBody(ct.RefreshToken), ctJSON); r.Status != http.StatusOK {
		t.Fatalf("login-URL refresh of a canonical token: %d %s", r.Status, r.Body)
	}
}

// meID returns the user id GET /auth/me reports for an access token.
func meID(t *testing.T, s *servertest.Server, access string) string {
	t.Helper()
	r := s.Do(t, "GET", "/auth/me", nil, "Authorization: Bearer "+access)
	if r.Status != http.StatusOK {
		t.Fatalf("me: %d %s", r.Status, r.Body)
	}
	var out struct{ User struct{ ID string } }
	r.JSON(t, &out)
	return out.User.ID
}
