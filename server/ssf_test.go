package server_test

import (
	"context"
	"net/http"
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
