package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
	"github.com/latchkey-dev/latchkey/ssf"
	"github.com/latchkey-dev/latchkey/store"
)

// receiver registers a receiver on the server's store and returns its
// credential header.
func receiver(t *testing.T, s *servertest.Server, name string) string {
	t.Helper()
	_, cred, err := ssf.CreateReceiver(context.Background(), s.App.Store.(store.Feed), name, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return "Authorization: Bearer " + cred
}

// The transmitter's routes through the real server, every exchange checked
// against the OpenAPI document: metadata, a stream's life, status,
// verification, polling, and refusals.
func TestSSFRoutes(t *testing.T) {
	s := servertest.Start(t, nil)
	auth := receiver(t, s, "api")
	m := s.Do(t, "GET", "/.well-known/ssf-configuration", nil)
	if m.Status != http.StatusOK || m.Map(t)["issuer"] != s.URL {
		t.Fatalf("metadata: %d %s", m.Status, m.Body)
	}
	r := s.Do(t, "POST", "/ssf/stream", map[string]any{"description": "test"}, auth)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var c struct {
		StreamID string `json:"stream_id"`
		Delivery struct {
			EndpointURL string `json:"endpoint_url"`
		} `json:"delivery"`
	}
	r.JSON(t, &c)
	poll := strings.TrimPrefix(c.Delivery.EndpointURL, s.URL)
	for _, x := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", "/ssf/stream", nil, 200},
		{"GET", "/ssf/stream?stream_id=" + c.StreamID, nil, 200},
		{"PATCH", "/ssf/stream", map[string]any{"stream_id": c.StreamID, "description": "renamed"}, 200},
		{"GET", "/ssf/status?stream_id=" + c.StreamID, nil, 200},
		{"POST", "/ssf/status", map[string]any{"stream_id": c.StreamID, "status": "enabled"}, 200},
		{"POST", "/ssf/verify", map[string]any{"stream_id": c.StreamID, "state": "abc"}, 204},
		{"POST", "/ssf/verify", map[string]any{"stream_id": c.StreamID, "state": "abc"}, 429},
		{"POST", poll, map[string]any{"returnImmediately": true}, 200},
		{"POST", poll, map[string]any{"ack": []int{1}}, 400},
		{"POST", "/ssf/stream", `{"delivery": 7}`, 400},
		{"GET", "/ssf/stream?stream_id=nope", nil, 404},
		{"PUT", "/ssf/stream", map[string]any{"stream_id": c.StreamID}, 200},
	} {
		if got := s.Do(t, x.method, x.path, x.body, auth, "Content-Type: application/json"); got.Status != x.status {
			t.Errorf("%s %s = %d %s, want %d", x.method, x.path, got.Status, got.Body, x.status)
		}
	}
	for _, path := range []string{"/ssf/stream", "/ssf/status?stream_id=" + c.StreamID, poll} {
		method := "GET"
		if path == poll {
			method = "POST"
		}
		if got := s.Do(t, method, path, nil, "Authorization: Bearer lkr_wrong"); got.Status != http.StatusUnauthorized {
			t.Errorf("%s %s with a wrong credential = %d", method, path, got.Status)
		}
	}
	if got := s.Do(t, "DELETE", "/ssf/stream?stream_id="+c.StreamID, nil, auth); got.Status != http.StatusNoContent {
		t.Errorf("delete = %d %s", got.Status, got.Body)
	}
}

// SSF=off: no transmitter route is served.
func TestSSFOff(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.SSF = false })
	for _, path := range []string{"/.well-known/ssf-configuration", "/ssf/stream"} {
		if r := s.Do(t, "GET", path, nil); r.Status != http.StatusNotFound {
			t.Errorf("GET %s with SSF=off = %d", path, r.Status)
		}
	}
}

// With the oauth2 dialect off, the transmitter serves the key set its SETs
// are verified with.
func TestSSFServesJWKSWithoutOAuth2(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.Dialects = config.Dialects{"canonical"} })
	r := s.Do(t, "GET", "/.well-known/jwks.json", nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"kid"`) {
		t.Fatalf("JWKS without the oauth2 dialect: %d %s", r.Status, r.Body)
	}
	s2 := servertest.Start(t, func(c *config.Config) { c.Dialects = config.Dialects{"canonical"}; c.SSF = false })
	if r := s2.Do(t, "GET", "/.well-known/jwks.json", nil); r.Status != http.StatusNotFound {
		t.Errorf("JWKS with neither oauth2 nor SSF = %d, want 404", r.Status)
	}
}

// poller polls one stream of the server and returns, by session id, the
// reason_admin of the session-revoked SETs it got (acknowledging them).
type poller struct {
	s          *servertest.Server
	auth, path string
}

func newPoller(t *testing.T, s *servertest.Server) *poller {
	auth := receiver(t, s, "api-"+randomName())
	r := s.Do(t, "POST", "/ssf/stream", map[string]any{}, auth)
	if r.Status != http.StatusCreated {
		t.Fatalf("create stream: %d %s", r.Status, r.Body)
	}
	var c struct {
		Delivery struct {
			EndpointURL string `json:"endpoint_url"`
		} `json:"delivery"`
	}
	r.JSON(t, &c)
	return &poller{s: s, auth: auth, path: strings.TrimPrefix(c.Delivery.EndpointURL, s.URL)}
}

func randomName() string { return strconv.FormatInt(time.Now().UnixNano(), 36) }

func (p *poller) poll(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var ack []string
	for {
		r := p.s.Do(t, "POST", p.path, map[string]any{"ack": ack, "returnImmediately": true}, p.auth)
		if r.Status != http.StatusOK {
			t.Fatalf("poll: %d %s", r.Status, r.Body)
		}
		var resp struct {
			Sets map[string]string `json:"sets"`
		}
		r.JSON(t, &resp)
		if len(resp.Sets) == 0 {
			return out
		}
		ack = ack[:0]
		for jti, set := range resp.Sets {
			ack = append(ack, jti)
			b, err := base64.RawURLEncoding.DecodeString(strings.Split(set, ".")[1])
			if err != nil {
				t.Fatal(err)
			}
			var c struct {
				SubID struct {
					Session struct {
						ID string `json:"id"`
					} `json:"session"`
				} `json:"sub_id"`
				Events map[string]struct {
					ReasonAdmin map[string]string `json:"reason_admin"`
				} `json:"events"`
			}
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatal(err)
			}
			if ev, ok := c.Events[ssf.EventTypeSessionRevoked]; ok {
				out[c.SubID.Session.ID] = ev.ReasonAdmin["en"]
			}
		}
	}
}

// Every way a session stops being usable before its time is a
// session-revoked event, delivered with its reason: sign-out (each scope),
// revocation from the session list, reuse detection, the session limit,
// deactivation, an administrator's revocation, RFC 7009 revocation.
func TestEveryRevocationIsAnEvent(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.MaxSessionsPerUser = 3 })
	p := newPoller(t, s)
	bearer := func(tk servertest.Tokens) string { return "Authorization: Bearer " + tk.AccessToken }
	want := map[string]string{}

	local := s.SignIn(t, "local@example.com", "password123")
	s.Do(t, "POST", "/auth/sign-out", map[string]string{"scope": "local"}, bearer(local))
	want[servertest.SessionID(t, local.AccessToken)] = "signed_out"

	keep := s.SignIn(t, "multi@example.com", "password123")
	other := s.SignIn(t, "multi@example.com", "password123")
	s.Do(t, "POST", "/auth/sign-out", map[string]string{"scope": "others"}, bearer(keep))
	want[servertest.SessionID(t, other.AccessToken)] = "signed_out_elsewhere"
	s.Do(t, "POST", "/auth/sign-out", map[string]string{"scope": "global"}, bearer(keep))
	want[servertest.SessionID(t, keep.AccessToken)] = "signed_out_everywhere"

	listed := s.SignIn(t, "list@example.com", "password123")
	victim := s.SignIn(t, "list@example.com", "password123")
	if r := s.Do(t, "DELETE", "/auth/sessions/"+servertest.SessionID(t, victim.AccessToken), nil, bearer(listed)); r.Status != http.StatusNoContent {
		t.Fatalf("revoke from the list: %d %s", r.Status, r.Body)
	}
	want[servertest.SessionID(t, victim.AccessToken)] = "revoked_by_user"

	stolen := s.SignIn(t, "reuse@example.com", "password123")
	if r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": stolen.RefreshToken}); r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	s.Clock.Advance(time.Minute) // past the reuse interval
	if r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": stolen.RefreshToken}); r.Status != http.StatusBadRequest {
		t.Fatalf("reuse: %d %s", r.Status, r.Body)
	}
	want[servertest.SessionID(t, stolen.AccessToken)] = "refresh_token_reused"

	first := s.SignIn(t, "cap@example.com", "password123")
	s.Clock.Advance(time.Second)
	for range 3 {
		s.SignIn(t, "cap@example.com", "password123")
		s.Clock.Advance(time.Second)
	}
	want[servertest.SessionID(t, first.AccessToken)] = "session_limit"

	deactivated := s.SignIn(t, "gone@example.com", "password123")
	if _, err := s.App.Service.SetUserActive(context.Background(), "gone@example.com", false); err != nil {
		t.Fatal(err)
	}
	want[servertest.SessionID(t, deactivated.AccessToken)] = "user_deactivated"

	admin := s.SignIn(t, "admin@example.com", "password123")
	if err := s.App.Service.AdminRevokeSession(context.Background(), servertest.SessionID(t, admin.AccessToken)); err != nil {
		t.Fatal(err)
	}
	want[servertest.SessionID(t, admin.AccessToken)] = "revoked_by_admin"

	rfc := s.SignIn(t, "rfc7009@example.com", "password123")
	if r := s.Do(t, "POST", "/oauth/revoke", "token="+rfc.RefreshToken, "Content-Type: application/x-www-form-urlencoded"); r.Status != http.StatusOK {
		t.Fatalf("RFC 7009 revocation: %d %s", r.Status, r.Body)
	}
	want[servertest.SessionID(t, rfc.AccessToken)] = "token_revoked"

	got := p.poll(t)
	for sid, reason := range want {
		if got[sid] != reason {
			t.Errorf("session %s: event reason %q, want %q", sid, got[sid], reason)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d session-revoked events, want %d: %v", len(got), len(want), got)
	}
}
