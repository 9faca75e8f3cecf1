package httpapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/httpapi"
)

func TestAccessLog(t *testing.T) {
	logger, logs := newLogger()
	ip := httpapi.ClientIP{Trusted: mustTrusted(t, "127.0.0.1")}
	h := httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		var body struct{ Password string }
		if err := httpapi.DecodeJSON(r, &body, httpapi.DecodeOptions{}); err != nil {
			return err
		}
		if body.Password == "" {
			return httpapi.InvalidRequest("password is required", errors.New("empty password field"))
		}
		return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"ok": "yes"})
	}, nil)
	srv := serve(t, httpapi.Chain(h, httpapi.AccessLog(logger, ip), httpapi.Recover(logger)))

	do(t, srv, "POST", "/auth/sign-in?access_token=QUERYSECRET", "application/json",
		strings.NewReader(`{"Password":"BODYSECRET"}`),
		"Authorization", "Bearer HEADERSECRET", "Cookie", "refreshToken=COOKIESECRET",
		"X-Forwarded-For", "198.51.100.7")
	do(t, srv, "POST", "/auth/sign-in", "application/json", strings.NewReader(`{}`))

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 log lines, got %d: %s", len(lines), logs)
	}
	for _, leak := range []string{"SECRET", "access_token", "Authorization", "Cookie"} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("log contains %q: %s", leak, logs)
		}
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"msg": "http request", "level": "INFO", "method": "POST", "path": "/auth/sign-in", "status": 200.0, "bytes": 13.0, "ip": "198.51.100.7"}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("%s = %v, want %v (%s)", k, first[k], v, lines[0])
		}
	}
	if _, ok := first["duration"]; !ok {
		t.Error("no duration")
	}
	if second["status"] != 400.0 || !strings.Contains(second["error"].(string), "empty password field") {
		t.Errorf("the error's cause is not logged with its status: %s", lines[1])
	}
}

func TestSecurityHeaders(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	api := serve(t, httpapi.SecurityHeaders(httpapi.SecurityOptions{})(ok))
	page := serve(t, httpapi.SecurityHeaders(httpapi.SecurityOptions{
		ContentSecurityPolicy:   "default-src 'self'",
		StrictTransportSecurity: "max-age=31536000",
	})(ok))

	res := do(t, api, "GET", "/", "", nil)
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if res.Header.Get("Content-Security-Policy") != "" || res.Header.Get("Strict-Transport-Security") != "" {
		t.Error("optional headers sent by default")
	}
	res = do(t, page, "GET", "/", "", nil)
	if res.Header.Get("Content-Security-Policy") != "default-src 'self'" || res.Header.Get("Strict-Transport-Security") != "max-age=31536000" {
		t.Errorf("optional headers missing: %v", res.Header)
	}
}

func TestAccessLogRecordsRecoveredPanicAs500(t *testing.T) {
	logger, logs := newLogger()
	srv := serve(t, httpapi.Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }),
		httpapi.AccessLog(logger, httpapi.ClientIP{}), httpapi.Recover(logger)))
	do(t, srv, "GET", "/x", "", nil)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if last["msg"] != "http request" || last["status"] != 500.0 || last["level"] != "ERROR" || !strings.Contains(last["error"].(string), "boom") {
		t.Fatalf("%v", last)
	}
}
