package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/httpapi"
)

const sampleJWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6InJ0K2p3dCJ9.eyJzdWIiOiJ1MSIsImdlbiI6Mn0.jbhMZl6z-dDS2RonEd2LVX2kYirUHf-aOU3LHGCGxPg"

func TestRedactTokens(t *testing.T) {
	for in, want := range map[string]string{
		"/auth/sessions/" + sampleJWT:                               "/auth/sessions/[redacted-jwt]",
		`unknown field "` + sampleJWT[:64] + `…"`:                   `unknown field "[redacted-jwt]…"`,
		"a " + sampleJWT + " b " + sampleJWT:                        "a [redacted-jwt] b [redacted-jwt]",
		"/auth/sessions/01a200b5-eafe-777b-b968-6ba44f76ed":         "/auth/sessions/01a200b5-eafe-777b-b968-6ba44f76ed",
		"refresh_token_invalid: the refresh token is invalid":       "refresh_token_invalid: the refresh token is invalid",
		"/ssf/poll/lkr_tdRZysVJrwdyVWXRK4aD0Czyi_iucR8mrSUBHl9xqgk": "/ssf/poll/[redacted-credential]",
	} {
		if got := httpapi.RedactTokens(in); got != want {
			t.Errorf("RedactTokens(%q) = %q, want %q", in, got, want)
		}
	}
}

// A token in a path segment or in a JSON key that an error quotes never
// reaches the access log (regression: both were logged verbatim).
func TestAccessLogRedactsTokens(t *testing.T) {
	logger, logs := newLogger()
	h := httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		var body struct{ RefreshToken string }
		return httpapi.DecodeJSON(r, &body, httpapi.DecodeOptions{Strict: true})
	}, nil)
	srv := serve(t, httpapi.Chain(h, httpapi.AccessLog(logger, httpapi.ClientIP{}), httpapi.Recover(logger)))
	do(t, srv, "POST", "/auth/sessions/"+sampleJWT, "application/json", strings.NewReader(`{"`+sampleJWT+`":1}`))
	sig := sampleJWT[strings.LastIndex(sampleJWT, ".")+1:]
	if strings.Contains(logs.String(), "eyJ") || strings.Contains(logs.String(), sig) {
		t.Fatalf("token in the log: %s", logs)
	}
	if !strings.Contains(logs.String(), "[redacted-jwt]") || !strings.Contains(logs.String(), `"status":400`) {
		t.Fatalf("log line: %s", logs)
	}
}
