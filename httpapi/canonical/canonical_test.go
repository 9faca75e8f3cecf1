package canonical_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

const pw = "password123"

// Sign-in returns a refresh token, POST /token trades it, and every refusal
// is a 400 with details: through real HTTP.

func TestSignInReturnsAccessAndRefreshTokens(t *testing.T) {
	s := servertest.Start(t, nil)
	s.SignUp(t, "ann@example.com", pw)
	r := s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": "ann@example.com", "password": pw})
	if r.Status != http.StatusOK {
		t.Fatalf("sign-in: %d %s", r.Status, r.Body)
	}
	m := r.Map(t)
	for _, k := range []string{"accessToken", "refreshToken"} {
		if s, _ := m[k].(string); strings.Count(s, ".") != 2 {
			t.Fatalf("%s is not a JWT: %v", k, m[k])
		}
	}
	if m["tokenType"] != "Bearer" || m["expiresIn"] != float64(900) || m["refreshExpiresIn"] != float64(86400) {
		t.Fatalf("lifetimes: %s", r.Body)
	}
	if m["serverTime"] != servertest.Epoch.Format(time.RFC3339) && !strings.HasPrefix(m["serverTime"].(string), "2026-06-01T08:00:00") {
		t.Fatalf("serverTime: %v", m["serverTime"])
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token responses must not be cached: %v", r.Header)
	}
	user := m["user"].(map[string]any)
	if user["email"] != "ann@example.com" || user["passwordHash"] != nil {
		t.Fatalf("user: %v", user)
	}
}

func TestTokenEndpointRotates(t *testing.T) {
	s := servertest.Start(t, nil)
	tk := s.SignIn(t, "ann@example.com", pw)
	s.Clock.Advance(time.Minute)
	r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": tk.RefreshToken})
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	var out struct{ AccessToken, RefreshToken, TokenType string }
	r.JSON(t, &out)
	if out.AccessToken == "" || out.AccessToken == tk.AccessToken || out.RefreshToken == tk.RefreshToken || out.TokenType != "Bearer" {
		t.Fatalf("not rotated: %s", r.Body)
	}
	// The new access token works and names the same user, fetched by sub.
	me := s.Do(t, "GET", "/auth/me", nil, "Authorization: Bearer "+out.AccessToken)
	if me.Status != http.StatusOK || !strings.Contains(string(me.Body), "ann@example.com") {
		t.Fatalf("me: %d %s", me.Status, me.Body)
	}
}

func wantError(t *testing.T, r *servertest.Response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	m := r.Map(t)
	if m["error"] != code || m["message"] == "" || m["message"] == nil {
		t.Fatalf("body %s, want error %q with a message", r.Body, code)
	}
}

func TestExpiredRefreshTokenIs400WithDetails(t *testing.T) {
	s := servertest.Start(t, nil)
	tk := s.SignIn(t, "ann@example.com", pw)
	s.Clock.Advance(24 * time.Hour) // JWT_REFRESH_EXPIRES_IN default, exactly: expired
	wantError(t, s.Do(t, "POST", "/token", map[string]string{"refreshToken": tk.RefreshToken}), 400, "refresh_token_expired")
}

func TestInactiveUserIs400WithDetails(t *testing.T) {
	s := servertest.Start(t, nil)
	tk := s.SignIn(t, "ann@example.com", pw)
	if _, err := s.App.Service.SetUserActive(context.Background(), "ann@example.com", false); err != nil {
		t.Fatal(err)
	}
	r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": tk.RefreshToken})
	if r.Status != 400 {
		t.Fatalf("inactive user: %d %s", r.Status, r.Body)
	}
	if code := r.Map(t)["error"]; code != "session_revoked" && code != "user_inactive" {
		t.Fatalf("inactive user: %s", r.Body)
	}
	wantError(t, s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": "ann@example.com", "password": pw}), 403, "user_inactive")
}

func TestTokenKindsAreNotInterchangeable(t *testing.T) {
	s := servertest.Start(t, nil)
	tk := s.SignIn(t, "ann@example.com", pw)
	r := s.Do(t, "GET", "/auth/me", nil, "Authorization: Bearer "+tk.RefreshToken)
	wantError(t, r, 401, "invalid_token")
	if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("401 without WWW-Authenticate: %v", r.Header)
	}
	wantError(t, s.Do(t, "POST", "/token", map[string]string{"refreshToken": tk.AccessToken}), 400, "refresh_token_invalid")
	wantError(t, s.Do(t, "POST", "/token/refresh", nil, "Authorization: Bearer "+tk.RefreshToken), 401, "invalid_token")
}

func TestSupersededTokenAfterIntervalKillsTheFamily(t *testing.T) {
	s := servertest.Start(t, nil)
	tk := s.SignIn(t, "ann@example.com", pw)
	r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": tk.RefreshToken})
	var cur servertest.Tokens
	r.JSON(t, &cur)
	// Inside the 10s interval the previous token yields the current generation.
	s.Clock.Advance(5 * time.Second)
	if r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": tk.RefreshToken}); r.Status != 200 {
		t.Fatalf("inside the reuse interval: %d %s", r.Status, r.Body)
	}
	s.Clock.Advance(6 * time.Second)
	wantError(t, s.Do(t, "POST", "/token", map[string]string{"refreshToken": tk.RefreshToken}), 400, "refresh_token_reused")
	wantError(t, s.Do(t, "POST", "/token", map[string]string{"refreshToken": cur.RefreshToken}), 400, "refresh_token_reused")
}

func TestRotationOffReturnsTheSameRefreshToken(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.RefreshTokenRotation = false })
	tk := s.SignIn(t, "ann@example.com", pw)
	for range 2 {
		r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": tk.RefreshToken})
		var out servertest.Tokens
		r.JSON(t, &out)
		if r.Status != 200 || out.RefreshToken != tk.RefreshToken {
			t.Fatalf("rotation off: %d %s", r.Status, r.Body)
		}
	}
}

func TestSignOutScopesAndSessions(t *testing.T) {
	s := servertest.Start(t, nil)
	a := s.SignIn(t, "ann@example.com", pw)
	b := s.SignIn(t, "ann@example.com", pw)
	c := s.SignIn(t, "ann@example.com", pw)
	r := s.Do(t, "GET", "/auth/sessions", nil, "Authorization: Bearer "+b.AccessToken)
	var list struct {
		Sessions []struct {
			ID      string
			Current bool
		}
	}
	r.JSON(t, &list)
	if len(list.Sessions) != 3 {
		t.Fatalf("sessions: %s", r.Body)
	}
	current := 0
	for _, x := range list.Sessions {
		if x.Current {
			current++
		}
	}
	if current != 1 {
		t.Fatalf("exactly one session must be marked current: %s", r.Body)
	}
	if r := s.Do(t, "POST", "/auth/sign-out", map[string]string{"scope": "others"}, "Authorization: Bearer "+b.AccessToken); r.Status != 204 {
		t.Fatalf("sign-out others: %d %s", r.Status, r.Body)
	}
	for _, x := range []servertest.Tokens{a, c} {
		wantError(t, s.Do(t, "POST", "/token", map[string]string{"refreshToken": x.RefreshToken}), 400, "session_revoked")
	}
	if r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": b.RefreshToken}); r.Status != 200 {
		t.Fatalf("own session survives sign-out of others: %d %s", r.Status, r.Body)
	}
	// Local sign-out with no body; the cookie is cleared.
	r = s.Do(t, "POST", "/auth/sign-out", nil, "Authorization: Bearer "+b.AccessToken)
	if r.Status != 204 || !strings.Contains(r.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("sign-out local: %d %v", r.Status, r.Header)
	}
	d := s.SignIn(t, "ann@example.com", pw)
	e := s.SignIn(t, "ann@example.com", pw)
	if r := s.Do(t, "POST", "/auth/sign-out", map[string]string{"scope": "global"}, "Authorization: Bearer "+d.AccessToken); r.Status != 204 {
		t.Fatal(r.Status)
	}
	wantError(t, s.Do(t, "POST", "/token", map[string]string{"refreshToken": e.RefreshToken}), 400, "session_revoked")
	wantError(t, s.Do(t, "POST", "/auth/sign-out", map[string]string{"scope": "everything"}, "Authorization: Bearer "+e.AccessToken), 400, "invalid_request")
}

func TestDeleteSession(t *testing.T) {
	s := servertest.Start(t, nil)
	a := s.SignIn(t, "ann@example.com", pw)
	other := s.SignIn(t, "bob@example.com", pw)
	var list struct{ Sessions []struct{ ID string } }
	s.Do(t, "GET", "/auth/sessions", nil, "Authorization: Bearer "+other.AccessToken).JSON(t, &list)
	// Another user's session is "not found", exactly like an unknown one.
	wantError(t, s.Do(t, "DELETE", "/auth/sessions/"+list.Sessions[0].ID, nil, "Authorization: Bearer "+a.AccessToken), 404, "not_found")
	wantError(t, s.Do(t, "DELETE", "/auth/sessions/nope", nil, "Authorization: Bearer "+a.AccessToken), 404, "not_found")
	if r := s.Do(t, "DELETE", "/auth/sessions/"+list.Sessions[0].ID, nil, "Authorization: Bearer "+other.AccessToken); r.Status != 204 {
		t.Fatal(r.Status)
	}
	wantError(t, s.Do(t, "POST", "/token", map[string]string{"refreshToken": other.RefreshToken}), 400, "session_revoked")
}

func TestSignUpAndSignInErrors(t *testing.T) {
	s := servertest.Start(t, nil)
	s.SignUp(t, "ann@example.com", pw)
	wantError(t, s.Do(t, "POST", "/auth/sign-up", map[string]string{"email": "ANN@example.com ", "password": pw}), 409, "email_taken")
	wantError(t, s.Do(t, "POST", "/auth/sign-up", map[string]string{"email": "nope", "password": pw}), 400, "invalid_request")
	wantError(t, s.Do(t, "POST", "/auth/sign-up", map[string]string{"email": "b@example.com", "password": "short"}), 400, "invalid_request")
	unknown := s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": "nobody@example.com", "password": pw})
	wrong := s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": "ann@example.com", "password": "wrong-password"})
	wantError(t, unknown, 401, "invalid_credentials")
	if string(unknown.Body) != string(wrong.Body) || wrong.Status != unknown.Status {
		t.Fatalf("unknown email and wrong password differ: %s vs %s", unknown.Body, wrong.Body)
	}
}

func TestAccessRenewal(t *testing.T) {
	s := servertest.Start(t, nil)
	tk := s.SignIn(t, "ann@example.com", pw)
	r := s.Do(t, "POST", "/token/refresh", nil, "Authorization: Bearer "+tk.AccessToken)
	if r.Status != 200 || r.Map(t)["accessToken"] == "" || r.Map(t)["refreshToken"] != nil {
		t.Fatalf("renewal: %d %s", r.Status, r.Body)
	}
	off := servertest.Start(t, func(c *config.Config) { c.AccessTokenRenewal = false })
	tk = off.SignIn(t, "ann@example.com", pw)
	wantError(t, off.Do(t, "POST", "/token/refresh", nil, "Authorization: Bearer "+tk.AccessToken), 501, "not_implemented")
}

// Bad input on every route: a clear 4xx in the canonical shape, never a 5xx,
// and the database unchanged.
func TestBadInputOnEveryRoute(t *testing.T) {
	s := servertest.Start(t, nil)
	tk := s.SignIn(t, "ann@example.com", pw)
	before := snapshot(t, s)
	big := `{"email":"` + strings.Repeat("a", 70<<10) + `"}`
	parts := strings.Split(tk.AccessToken, ".")
	noneTok := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + "."
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"x","sid":"y"}`)) + "." + parts[2]
	bodies := []struct {
		name, body, ctype string
		want              int
	}{
		{"malformed JSON", `{"email":`, "application/json", 400},
		{"wrong types", `{"email":1,"password":[],"refreshToken":true,"scope":2}`, "application/json", 400},
		{"unknown field", `{"bogus":"x"}`, "application/json", 400},
		{"not an object", `["x"]`, "application/json", 400},
		{"trailing data", `{} {}`, "application/json", 400},
		{"empty body", ``, "application/json", 400},
		{"wrong content type", `{"email":"a@b.c"}`, "text/plain", 400},
		{"form instead of JSON", `email=a%40b.c&password=x`, "application/x-www-form-urlencoded", 400},
		{"too large", big, "application/json", 413},
		{"missing fields", `{}`, "application/json", 400},
		{"non-UTF-8", "{\"email\":\"\xff\xfe\",\"password\":\"\xff\"}", "application/json", 400},
	}
	routes := []struct{ method, path string }{
		{"POST", "/auth/sign-up"}, {"POST", "/auth/sign-in"}, {"POST", "/token"}, {"POST", "/auth/sign-out"},
	}
	for _, rt := range routes {
		for _, b := range bodies {
			if rt.path == "/auth/sign-out" && (b.name == "missing fields" || b.name == "empty body") {
				continue // no body or an empty object is a local sign-out
			}
			r := s.Do(t, rt.method, rt.path, b.body, "Content-Type: "+b.ctype, "Authorization: Bearer "+tk.AccessToken)
			if r.Status >= 500 || r.Status < 400 {
				t.Errorf("%s %s, %s: %d %s", rt.method, rt.path, b.name, r.Status, r.Body)
				continue
			}
			if b.want != 0 && r.Status != b.want && !(rt.path == "/auth/sign-in" && r.Status == 401) && !(rt.path == "/token" && r.Status == 400) {
				t.Errorf("%s %s, %s: %d, want %d: %s", rt.method, rt.path, b.name, r.Status, b.want, r.Body)
			}
			if m := r.Map(t); m["error"] == nil || m["message"] == nil {
				t.Errorf("%s %s, %s: not the canonical error shape: %s", rt.method, rt.path, b.name, r.Body)
			}
		}
	}
	forged := []string{noneTok, tampered, parts[0] + "." + parts[1] + ".AAAA", "x.y.z", strings.Repeat("a", 9000), "Bearer", ""}
	for _, tok := range forged {
		for _, rt := range []struct{ method, path string }{{"GET", "/auth/me"}, {"GET", "/auth/sessions"}, {"POST", "/token/refresh"},
			{"POST", "/auth/sign-out"}, {"DELETE", "/auth/sessions/x"}} {
			r := s.Do(t, rt.method, rt.path, nil, "Authorization: Bearer "+tok)
			if r.Status != 401 {
				t.Errorf("%s %s with a forged token: %d %s", rt.method, rt.path, r.Status, r.Body)
			}
		}
		if r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": tok}); r.Status != 400 && tok != "" {
			t.Errorf("POST /token with a forged token: %d %s", r.Status, r.Body)
		}
	}
	if after := snapshot(t, s); after != before {
		t.Fatalf("bad input changed the database:\nbefore %s\nafter  %s", before, after)
	}
}

// snapshot renders every user and session (with generation and revocation).
func snapshot(t *testing.T, s *servertest.Server) string {
	t.Helper()
	ctx := context.Background()
	users, err := s.App.Store.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, u := range users {
		b.WriteString(u.Email + ":" + string(u.Status) + ":" + u.PasswordHash[:20] + ";")
	}
	sessions, err := s.App.Store.ListSessions(ctx, "", s.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range sessions {
		b.WriteString(x.ID + ":" + x.RevokedAt.String() + ":" + x.LastRefreshedAt.String() + ";")
		b.WriteString(string(rune('0' + x.Generation)))
	}
	return b.String()
}
