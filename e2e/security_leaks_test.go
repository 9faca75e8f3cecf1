package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// TestNoSecretsInLogsOrErrors runs a full scenario (sign-up, sign-in in both
// dialects, refreshes, renewal, reuse detection, bad requests carrying
// tokens and passwords in bodies, headers, cookies and query strings,
// revocation, introspection, sign-out) and then checks that
//
//   - no password, access token, refresh token, token signature or the
//     REFRESH_TOKEN_SECRET appears anywhere in the server's log output
//     (OWASP ASVS V7.1.1, V8.3.4);
//   - no error response shows an internal detail (SQL, file paths, Go error
//     strings, stack traces; ASVS V7.4.1).
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	const refreshSecret = "leak-test-refresh-secret-0123456789abcdef"
	s := servertest.Start(t, func(c *config.Config) { c.RefreshTokenSecret = refreshSecret })
	var secrets []string // every value that must never be logged
	var errorBodies []string
	keep := func(r *secResponse) *secResponse {
		if r.Status >= 400 {
			errorBodies = append(errorBodies, r.Status2()+" "+string(r.Body))
		}
		return r
	}
	do := func(method, path, ctype, body string, headers ...string) *secResponse {
		t.Helper()
		return keep(secMustDo(t, s, method, path, ctype, body, headers...))
	}
	tokensOf := func(r *secResponse) (at, rt string) {
		t.Helper()
		m := map[string]any{}
		_ = jsonUnmarshal(r.Body, &m)
		for _, k := range []string{"accessToken", "access_token"} {
			if v, ok := m[k].(string); ok {
				at = v
			}
		}
		for _, k := range []string{"refreshToken", "refresh_token"} {
			if v, ok := m[k].(string); ok {
				rt = v
			}
		}
		for _, tok := range []string{at, rt} {
			if tok != "" {
				secrets = append(secrets, tok, tok[strings.LastIndex(tok, ".")+1:])
			}
		}
		return at, rt
	}
	const (
		j, fm      = "application/json", "application/x-www-form-urlencoded"
		pw         = "Leak-Test-Password-Ann-77"
		wrongPW    = "Wrong-Password-Guess-42"
		shortPW    = "Qz7#k"
		numericPW  = "31415926535"
		unknownPW  = "Nobody-Knows-This-Pass-9"
		email      = "ann@example.com"
		credsJSON  = `{"email":"ann@example.com","password":"` + pw + `"}`
		oauthLogin = "grant_type=password&username=ann%40example.com&password=" + pw
	)
	secrets = append(secrets, pw, wrongPW, shortPW, numericPW, unknownPW, refreshSecret)

	// Sign-up, including refusals that carry a password.
	do("POST", "/auth/sign-up", j, credsJSON)
	do("POST", "/auth/sign-up", j, credsJSON) // 409
	do("POST", "/auth/sign-up", j, `{"email":"bob@example.com","password":"`+shortPW+`"}`)
	do("POST", "/auth/sign-up", j, `{"email":"bob@example.com","password":`+numericPW+`}`)
	do("POST", "/auth/sign-up", j, `{"email":"bob@example.com","password":"`+pw+`","extra":1}`)
	// Sign-in: wrong password, unknown user, malformed bodies with passwords.
	do("POST", "/auth/sign-in", j, `{"email":"ann@example.com","password":"`+wrongPW+`"}`)
	do("POST", "/auth/sign-in", j, `{"email":"nobody@example.com","password":"`+unknownPW+`"}`)
	do("POST", "/auth/sign-in", j, `{"email":"ann@example.com","password":"`+pw+`"`)
	do("POST", "/auth/sign-in", j, `{"email":"ann@example.com","password":`+numericPW+`}`)
	do("POST", "/auth/sign-in", j, `{"email":"ann@example.com","password":["`+pw+`"]}`)
	do("POST", "/auth/sign-in", "text/plain", credsJSON)
	do("POST", "/oauth/token", fm, "grant_type=password&username=ann%40example.com&password="+wrongPW)
	do("POST", "/oauth/token", fm, oauthLogin+"%zz")
	do("POST", "/oauth/token", fm, oauthLogin+"&password="+pw)
	do("POST", "/oauth/token", j, `{"grant_type":"password","username":"ann@example.com","password":`+numericPW+`}`)
	do("POST", "/oauth/token", j, `{"grant_type":"password","username":"ann@example.com","password":{"x":"`+pw+`"}}`)
	at1, rt1 := tokensOf(do("POST", "/auth/sign-in", j, credsJSON))
	at2, rt2 := tokensOf(do("POST", "/oauth/token", fm, oauthLogin))

	// Refreshes in both dialects, renewal, and the APIs that take tokens.
	s.Clock.Advance(time.Minute)
	at3, rt3 := tokensOf(do("POST", "/token", j, `{"refreshToken":"`+rt1+`"}`))
	_, rt4 := tokensOf(do("POST", "/oauth/token", fm, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}}.Encode()))
	tokensOf(do("POST", "/token/refresh", "", "", "Authorization: Bearer "+at3))
	do("GET", "/auth/me", "", "", "Authorization: Bearer "+at3)
	do("GET", "/auth/sessions", "", "", "Authorization: Bearer "+at3)
	do("POST", "/oauth/introspect", fm, "token="+at2)
	do("POST", "/oauth/introspect", fm, "token="+rt4)

	// Bad requests carrying tokens everywhere a client might put them.
	tampered := at3[:len(at3)-6] + "AAAAAA"
	do("GET", "/auth/me", "", "", "Authorization: Bearer "+tampered)
	do("GET", "/auth/me", "", "", "Authorization: Bearer "+rt3)
	do("GET", "/auth/me", "", "", "Authorization: Basic "+at3)
	do("GET", "/auth/me", "", "", "Authorization: Bearer "+at3+" "+rt3)
	if r := do("GET", "/auth/me?access_token="+at3, "", ""); r.Status != http.StatusUnauthorized {
		t.Errorf("an access token in the query string was accepted (RFC 9700 §4.3.2): %d", r.Status) // RFC 6750 §2.3 is not offered
	}
	do("GET", "/auth/sessions/"+rt3, "", "", "Cookie: refreshToken="+rt3)
	do("POST", "/token", j, `{"refreshToken":"`+at3+`"}`)
	do("POST", "/token", j, `{"refreshToken":"`+rt3+`",}`)
	do("POST", "/token", j, `{"refreshToken":"`+rt3+`","`+rt3+`":true}`)
	do("POST", "/token", j, `{"refreshToken":["`+rt3+`"]}`)
	do("POST", "/token", j, `{"refreshToken":"`+rt3[:40]+`\u00ff`+rt3[40:]+`"}`)
	do("POST", "/token", fm, "refreshToken="+rt3)
	do("POST", "/token?refreshToken="+rt3, j, `{}`)
	do("POST", "/oauth/token", fm, "grant_type=refresh_token&refresh_token="+rt3+"&refresh_token="+rt3)
	do("POST", "/oauth/token", fm, "grant_type=refresh_token&refresh_token="+rt3+"%")
	do("POST", "/oauth/token", fm, "grant_type=refresh_token&refresh_token="+at3)
	do("POST", "/oauth/token", fm, "grant_type=refresh_token&refresh_token="+rt3, "Authorization: Basic "+rt3)
	do("POST", "/oauth/token", fm, "grant_type="+rt3)
	do("POST", "/oauth/revoke", fm, "token="+rt3+"&token="+rt3)
	do("DELETE", "/auth/sessions/"+at3, "", "", "Authorization: Bearer "+at3)

	// Reuse detection: rt1 was superseded by rt3 a minute ago.
	s.Clock.Advance(11 * time.Second)
	do("POST", "/token", j, `{"refreshToken":"`+rt1+`"}`)
	do("POST", "/token", j, `{"refreshToken":"`+rt3+`"}`)
	do("POST", "/oauth/introspect", fm, "token="+at3)

	// Revocation and sign-out.
	do("POST", "/oauth/revoke", fm, "token="+rt4+"&token_type_hint=refresh_token")
	do("POST", "/oauth/token", fm, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt4}}.Encode())
	at5, _ := tokensOf(do("POST", "/auth/sign-in", j, credsJSON))
	do("POST", "/auth/sign-out", j, `{"scope":"`+at5+`"}`, "Authorization: Bearer "+at5)
	do("POST", "/auth/sign-out", j, `{"scope":"global"}`, "Authorization: Bearer "+at5)
	do("POST", "/token/refresh", "", "", "Authorization: Bearer "+at5)
	do("POST", "/oauth/introspect", fm, "token="+at5)
	_ = at1

	logs := s.Logs.String()
	if !strings.Contains(logs, "refresh.reuse_detected") || !strings.Contains(logs, `"status":400`) {
		t.Fatalf("the scenario did not run as planned:\n%s", logs)
	}
	for _, sec := range secrets {
		if sec != "" && strings.Contains(logs, sec) {
			t.Errorf("the log contains a secret %.12q…:\n%s", sec, secLinesWith(logs, sec))
		}
	}
	internals := []string{"sqlite", "SQLITE", "sql:", "database/sql", ".go:", "goroutine", "panic", "runtime error",
		"go-jose", "jsontext", "json: ", "token: ", "store: ", "auth: ", "/tmp/", "/home/", "x509", "crypto/"}
	for _, b := range errorBodies {
		for _, bad := range internals {
			if strings.Contains(b, bad) {
				t.Errorf("an error response shows %q: %s", bad, b)
			}
		}
	}
	t.Logf("%d error responses checked, %d secrets searched in %d bytes of logs", len(errorBodies), len(secrets), len(logs))
}

func secLinesWith(logs, s string) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Status2 renders the status for messages.
func (r *secResponse) Status2() string { return http.StatusText(r.Status) }
