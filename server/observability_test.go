package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// auditEvents returns the server's audit log lines, each decoded.
func auditEvents(t *testing.T, s *servertest.Server) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.Logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		if m["msg"] == "audit" {
			out = append(out, m)
		}
	}
	return out
}

// findEvent returns the first audit event named name whose fields include
// want (values compared as strings; "*" means any non-empty value).
func findEvent(events []map[string]any, name string, want map[string]string) map[string]any {
next:
	for _, e := range events {
		if e["event"] != name {
			continue
		}
		for k, v := range want {
			got, ok := e[k]
			if !ok {
				continue next
			}
			gs := fmt.Sprint(got)
			if (v == "*" && gs == "") || (v != "*" && gs != v) {
				continue next
			}
		}
		return e
	}
	return nil
}

// scrape returns GET /metrics as a map from series ("name{labels}") to value.
func scrape(t *testing.T, s *servertest.Server) map[string]float64 {
	t.Helper()
	r := s.Do(t, "GET", "/metrics", nil)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(r.Body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// TestAuditEventsAndMetrics runs a scenario through every audited path —
// sign-in success and failure, refresh, reissue inside the reuse interval,
// reuse detection, rate-limit refusals of sign-in and refresh, sign-out with
// its scope, session and token revocation, deactivation — and checks that
// each left its audit event with user id, session id and client IP, that no
// token or password reached the log, and that /metrics counted it.
func TestAuditEventsAndMetrics(t *testing.T) {
	s := servertest.Start(t, limits(func(c *config.Config) {
		c.RateLimitSigninFailuresAccount = config.Rate{Count: 2, Per: time.Hour}
		c.RateLimitRefreshIP = config.Rate{Count: 5, Per: time.Hour}
	}))
	const ip, ip2 = "198.51.100.7", "198.51.100.8"
	var secrets []string // everything that must never be logged
	keep := func(r *servertest.Response) map[string]any {
		m := r.Map(t)
		for _, k := range []string{"accessToken", "refreshToken", "access_token", "refresh_token"} {
			if v, ok := m[k].(string); ok {
				secrets = append(secrets, v)
			}
		}
		return m
	}
	refresh := func(rt, ip string) *servertest.Response {
		return s.Do(t, "POST", "/token", map[string]string{"refreshToken": rt}, "X-Forwarded-For: "+ip)
	}
	s.SignUp(t, "ann@example.com", pw)
	secrets = append(secrets, pw)

	// Sign-in: success, then a failure.
	r := signIn(t, s, "ann@example.com", pw, ip)
	wantStatus(t, r, 200)
	first := keep(r)
	wantStatus(t, signIn(t, s, "ann@example.com", "wrong-password-1", ip), 401)
	secrets = append(secrets, "wrong-password-1")

	// Refresh, the previous token again inside the reuse interval, then
	// outside it: reuse detected, the session revoked.
	rt1 := first["refreshToken"].(string)
	r = refresh(rt1, ip)
	wantStatus(t, r, 200)
	second := keep(r)
	wantStatus(t, refresh(rt1, ip), 200)
	s.Clock.Advance(11 * time.Second)
	wantStatus(t, refresh(rt1, ip), 400)
	wantStatus(t, refresh(second["refreshToken"].(string), ip), 400) // the family is dead

	// Sign-out with a scope; a session deleted through the API; a token
	// revoked through RFC 7009.
	a := keep(signIn(t, s, "ann@example.com", pw, ip2))
	keep(signIn(t, s, "ann@example.com", pw, ip2))
	wantStatus(t, s.Do(t, "POST", "/auth/sign-out", map[string]string{"scope": "others"},
		"Authorization: Bearer "+a["accessToken"].(string), "X-Forwarded-For: "+ip2), 204)
	keep(signIn(t, s, "ann@example.com", pw, ip2))
	sessions := s.Do(t, "GET", "/auth/sessions", nil, "Authorization: Bearer "+a["accessToken"].(string))
	var list struct {
		Sessions []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"sessions"`
	}
	sessions.JSON(t, &list)
	var other string
	for _, x := range list.Sessions {
		if !x.Current {
			other = x.ID
		}
	}
	wantStatus(t, s.Do(t, "DELETE", "/auth/sessions/"+other, nil, "Authorization: Bearer "+a["accessToken"].(string),
		"X-Forwarded-For: "+ip2), 204)
	c := keep(signIn(t, s, "ann@example.com", pw, ip2))
	rev := url.Values{"token": {c["refreshToken"].(string)}}
	wantStatus(t, s.Do(t, "POST", "/oauth/revoke", rev.Encode(), "Content-Type: application/x-www-form-urlencoded",
		"X-Forwarded-For: "+ip2), 200)

	// Rate limits: the account after two failures; refreshes after five.
	wantStatus(t, signIn(t, s, "ann@example.com", "wrong-password-2", ip), 401)
	wantStatus(t, signIn(t, s, "ann@example.com", pw, ip), 429)
	s.SignUp(t, "bob@example.com", pw)
	bob := keep(signIn(t, s, "bob@example.com", pw, ip2))
	brt := bob["refreshToken"].(string)
	for range 5 { // the refresh limit (5) counts the four refreshes from ip above: one more, then 429
		r := refresh(brt, ip)
		if r.Status != 200 {
			wantStatus(t, r, 429)
			break
		}
		brt = keep(r)["refreshToken"].(string)
	}

	// Deactivation (latchkey user deactivate).
	if _, err := s.App.Service.SetUserActive(context.Background(), "bob@example.com", false); err != nil {
		t.Fatal(err)
	}

	events := auditEvents(t, s)
	for _, w := range []struct {
		event  string
		fields map[string]string
	}{
		{"signin.success", map[string]string{"user_id": "*", "session_id": "*", "ip": ip}},
		{"signin.failure", map[string]string{"user_id": "*", "reason": "invalid_credentials", "ip": ip}},
		{"refresh", map[string]string{"user_id": "*", "session_id": "*", "ip": ip}},
		{"refresh.reissued", map[string]string{"user_id": "*", "session_id": "*", "ip": ip}},
		{"refresh.reuse_detected", map[string]string{"user_id": "*", "session_id": "*", "ip": ip,
			"presented_generation": "1", "current_generation": "2"}},
		{"session.revoked", map[string]string{"reason": "refresh_token_reused", "user_id": "*", "session_id": "*", "ip": ip}},
		{"signout", map[string]string{"scope": "others", "user_id": "*", "session_id": "*", "sessions_revoked": "1", "ip": ip2}},
		{"session.revoked", map[string]string{"reason": "signed_out_elsewhere", "user_id": "*", "ip": ip2}},
		{"session.revoked", map[string]string{"reason": "revoked_by_user", "user_id": "*", "session_id": other, "ip": ip2}},
		{"session.revoked", map[string]string{"reason": "token_revoked", "user_id": "*", "session_id": "*", "ip": ip2}},
		{"signin.rate_limited", map[string]string{"limit": "signin_failures_account", "ip": ip}},
		{"refresh.rate_limited", map[string]string{"limit": "refresh_ip", "user_id": "*", "session_id": "*", "ip": ip}},
		{"user.deactivated", map[string]string{"user_id": "*", "sessions_revoked": "1"}},
	} {
		if findEvent(events, w.event, w.fields) == nil {
			t.Errorf("no audit event %s with %v", w.event, w.fields)
		}
	}
	logs := s.Logs.String()
	for _, sec := range secrets {
		if strings.Contains(logs, sec) {
			t.Errorf("the log contains a token or password (%.12s…)", sec)
		}
	}
	if strings.Contains(logs, "ann@example.com") {
		t.Error("the log contains an email address")
	}

	m := scrape(t, s)
	for series, want := range map[string]float64{
		`latchkey_signins_total{outcome="success"}`:                                     6,
		`latchkey_signins_total{outcome="invalid_credentials"}`:                         2,
		`latchkey_signins_total{outcome="rate_limited"}`:                                1,
		`latchkey_refreshes_total{outcome="rotated"}`:                                   2,
		`latchkey_refreshes_total{outcome="reissued"}`:                                  1,
		`latchkey_refreshes_total{outcome="refresh_token_reused"}`:                      2,
		`latchkey_refreshes_total{outcome="rate_limited"}`:                              1,
		`latchkey_refreshes_total{outcome="session_revoked"}`:                           0,
		`latchkey_refresh_reuse_detected_total`:                                         1,
		`latchkey_rate_limit_hits_total{limit="signin_failures_account"}`:               1,
		`latchkey_rate_limit_hits_total{limit="refresh_ip"}`:                            1,
		`latchkey_rate_limit_hits_total{limit="signin_ip"}`:                             0,
		`latchkey_rate_limiter_errors_total`:                                            0,
		`latchkey_http_requests_total{code="200",route="POST /auth/sign-in"}`:           6,
		`latchkey_http_requests_total{code="401",route="POST /auth/sign-in"}`:           2,
		`latchkey_http_requests_total{code="429",route="POST /auth/sign-in"}`:           1,
		`latchkey_http_requests_total{code="429",route="POST /token"}`:                  1,
		`latchkey_http_requests_total{code="204",route="DELETE /auth/sessions/{id}"}`:   1,
		`latchkey_http_requests_total{code="200",route="POST /oauth/revoke"}`:           1,
		`latchkey_http_request_duration_seconds_count{class="2xx",route="POST /token"}`: 3,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	for series := range m {
		if strings.Contains(series, other) {
			t.Errorf("a raw path reached a label: %s", series)
		}
	}
}

// TestMetricsRouteLabelsAreBounded: probing random paths adds no series; they
// are all counted under the catch-all pattern.
func TestMetricsRouteLabelsAreBounded(t *testing.T) {
	s := servertest.Start(t, nil)
	probe := func(from, to int) {
		for i := from; i < to; i++ {
			s.Do(t, "GET", fmt.Sprintf("/probe/%d/../x%d?q=%d", i, i, i), nil) // a redirect, then a 404
		}
	}
	probe(0, 5)
	scrape(t, s) // a scrape's own request is counted after it is served
	before := len(scrape(t, s))
	probe(5, 55)
	m := scrape(t, s)
	if got := m[`latchkey_http_requests_total{code="404",route="/"}`]; got != 55 {
		t.Fatalf("404s under route \"/\" = %v, want 55", got)
	}
	if n := len(m) - before; n != 0 {
		t.Fatalf("%d new series after probing 50 more paths", n)
	}
	for series := range m {
		if strings.Contains(series, "probe") {
			t.Fatalf("a raw path reached a label: %s", series)
		}
	}
}
