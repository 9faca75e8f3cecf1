package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// fuzzRoutes are the routes FuzzRoutes sends requests to: every route of
// every dialect that reads a body, a bearer token, a cookie or a path value.
// Adding a dialect's route is one row. Append rows at the end: the corpus
// names routes by their index (modulo the table's length).
//
// In paths, $SID stands for the id of a live session.
var fuzzRoutes = []struct{ method, path string }{
	// canonical
	{"POST", "/auth/sign-up"},
	{"POST", "/auth/sign-in"},
	{"POST", "/token"},
	{"POST", "/token/refresh"},
	{"GET", "/auth/me"},
	{"POST", "/auth/sign-out"},
	{"GET", "/auth/sessions"},
	{"DELETE", "/auth/sessions/$SID"},
	// oauth2
	{"POST", "/oauth/token"},
	{"POST", "/oauth/revoke"},
	{"POST", "/oauth/introspect"},
	{"GET", "/.well-known/oauth-authorization-server"},
	{"GET", "/.well-known/jwks.json"},
	// operations
	{"GET", "/healthz"},
	{"GET", "/readyz"},
	// canonical: the password lifecycle
	{"POST", "/auth/password"},
	{"POST", "/auth/recover"},
	{"POST", "/auth/reset"},
	{"POST", "/auth/verify"},
	{"POST", "/auth/verify/resend"},
}

const fuzzEmail, fuzzPassword = "fuzz@example.com", "fuzz-password-1"

// FuzzRoutes sends arbitrary requests through the real handler (every
// dialect, the whole middleware chain, a real SQLite store): any method-path
// row, Content-Type, body, Authorization and Cookie header. It must never
// answer 5xx, never panic, and every error body must be JSON that shows no
// internal detail. In any input, $AT, $RT and $SID are replaced by the
// access token, refresh token and session id of a fresh sign-in, so the
// fuzzer also explores requests that carry valid tokens. Seeds are in
// testdata/fuzz/FuzzRoutes; `go test` runs them, .ci/fuzz.sh explores.
func FuzzRoutes(f *testing.F) {
	s := servertest.Start(f, nil)
	s.SignUp(f, fuzzEmail, fuzzPassword)
	h := s.Config.Handler
	const j, fm = "application/json", "application/x-www-form-urlencoded"
	seeds := []struct {
		route          int
		ctype, body    string
		authz, cookies string
	}{
		{0, j, `{"email":"a@example.com","password":"password123"}`, "", ""},
		{1, j, `{"email":"fuzz@example.com","password":"fuzz-password-1"}`, "", ""},
		{1, j, `{"email":"fuzz@example.com","password":"fuzz-password-1","extra":1}`, "", ""},
		{2, j, `{"refreshToken":"$RT"}`, "", ""},
		{2, j, `{"refreshToken":"$AT"}`, "", ""},
		{2, j + "; charset=latin1", `{"refreshToken":"$RT"}`, "", ""},
		{3, "", "", "Bearer $AT", ""},
		{3, "", "", "Bearer $RT", ""},
		{4, "", "", "bearer  $AT", ""},
		{4, "", "", "Bearer $AT, Bearer $AT", ""},
		{5, j, `{"scope":"global"}`, "Bearer $AT", ""},
		{5, j, `{"scope":7}`, "Bearer $AT", ""},
		{6, "", "", "Bearer $AT", "refreshToken=$RT"},
		{7, "", "", "Bearer $AT", ""},
		{8, fm, "grant_type=refresh_token&refresh_token=$RT", "", ""},
		{8, fm, "grant_type=refresh_token&refresh_token=$RT&client_id=x", "Basic eDo=", ""},
		{8, fm + ";charset=UTF-8", "grant_type=password&username=fuzz%40example.com&password=fuzz-password-1", "", ""},
		{8, j, `{"grant_type":"refresh_token","refresh_token":"$RT"}`, "", ""},
		{8, fm, "grant_type=refresh_token&refresh_token=$RT&refresh_token=$RT", "", ""},
		{9, fm, "token=$RT&token_type_hint=refresh_token", "", ""},
		{9, fm, "token=$AT&token_type_hint=access_token", "Basic %zz", ""},
		{10, fm, "token=$AT", "", ""},
		{10, j, `{"token":["$RT"]}`, "", ""},
		{11, "", "", "", ""},
		{12, "", "", "", ""},
		{13, "", "", "", ""},
		{14, "", "", "", ""},
		{15, j, `{"currentPassword":"fuzz-password-1","newPassword":"fuzz-password-2","signOutOthers":false}`, "Bearer $AT", ""},
		{15, j, `{"currentPassword":"wrong","newPassword":"x"}`, "Bearer $AT", ""},
		{16, j, `{"email":"fuzz@example.com"}`, "", ""},
		{16, j, `{"email":"fuzz@example.com\r\nBcc: x@example.com"}`, "", ""},
		{17, j, `{"token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","newPassword":"fuzz-password-2"}`, "", ""},
		{18, j, `{"token":"$RT"}`, "", ""},
		{19, j, `{"email":"nobody@example.com"}`, "", ""},
	}
	for _, sd := range seeds {
		f.Add(uint8(sd.route), sd.ctype, []byte(sd.body), sd.authz, sd.cookies)
	}
	f.Fuzz(func(t *testing.T, route uint8, ctype string, body []byte, authz, cookies string) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := rt.path
		all := path + ctype + string(body) + authz + cookies
		if strings.Contains(all, "$") {
			g, err := s.App.Service.SignIn(context.Background(), fuzzEmail, fuzzPassword, auth.Meta{})
			if auth.ErrorCode(err) == auth.CodeInvalidCredentials {
				// An earlier input changed the password (POST /auth/password
				// with the right current one): set it back.
				if _, err := s.App.Service.AdminSetPassword(context.Background(), fuzzEmail, fuzzPassword); err != nil {
					t.Fatal(err)
				}
				g, err = s.App.Service.SignIn(context.Background(), fuzzEmail, fuzzPassword, auth.Meta{})
			}
			if err != nil {
				t.Fatal(err)
			}
			r := strings.NewReplacer("$AT", g.AccessToken, "$RT", g.RefreshToken, "$SID", g.Session.ID)
			path, ctype, authz, cookies = r.Replace(path), r.Replace(ctype), r.Replace(authz), r.Replace(cookies)
			body = []byte(r.Replace(string(body)))
		}
		req := httptest.NewRequest(rt.method, path, bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		if cookies != "" {
			req.Header.Set("Cookie", cookies)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s: %d %s", rt.method, rt.path, w.Code, w.Body)
		}
		out := w.Body.String()
		for _, leak := range []string{"goroutine", "panic", ".go:", "sqlite", "sql:", "runtime."} {
			// Only what the server adds counts: a sign-up echoes its email.
			if strings.Contains(out, leak) && !strings.Contains(all, leak) {
				t.Fatalf("%s %s: the response shows %q: %s", rt.method, rt.path, leak, out)
			}
		}
		if w.Code >= 400 {
			var m map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
				t.Fatalf("%s %s: %d error body is not a JSON object: %q", rt.method, rt.path, w.Code, out)
			}
		}
		if w.Code == http.StatusOK && w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s %s: no nosniff header", rt.method, rt.path)
		}
	})
}
