package ssf_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/ssf"
)

func TestMetadata(t *testing.T) {
	e := newEnv(t)
	var m map[string]any
	e.want(http.StatusOK, "GET", ssf.PathMetadata, "", nil, &m)
	for k, want := range map[string]any{
		"spec_version":           "1_0",
		"issuer":                 e.url,
		"jwks_uri":               e.url + "/.well-known/jwks.json",
		"configuration_endpoint": e.url + "/ssf/stream",
		"status_endpoint":        e.url + "/ssf/status",
		"verification_endpoint":  e.url + "/ssf/verify",
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	methods, _ := m["delivery_methods_supported"].([]any)
	if !slices.Contains(methods, any(ssf.MethodPush)) || !slices.Contains(methods, any(ssf.MethodPoll)) {
		t.Errorf("delivery_methods_supported = %v, want push and poll", m["delivery_methods_supported"])
	}
	if _, ok := m["authorization_schemes"].([]any); !ok {
		t.Errorf("authorization_schemes missing: %v", m)
	}
	var jwks map[string]any
	e.want(http.StatusOK, "GET", ssf.PathJWKS, "", nil, &jwks)
	if keys, _ := jwks["keys"].([]any); len(keys) != 1 {
		t.Errorf("JWKS = %v, want the one signing key", jwks)
	}
}

// Every route but the metadata refuses a missing or unknown credential with
// 401 and a Bearer challenge, before looking at anything else.
func TestBadCredentials(t *testing.T) {
	e := newEnv(t)
	c := e.createPoll()
	routes := []struct{ method, path string }{
		{"POST", ssf.PathStream}, {"GET", ssf.PathStream}, {"PATCH", ssf.PathStream}, {"PUT", ssf.PathStream},
		{"DELETE", ssf.PathStream + "?stream_id=" + c.StreamID}, {"GET", ssf.PathStatus + "?stream_id=" + c.StreamID},
		{"POST", ssf.PathStatus}, {"POST", ssf.PathVerify}, {"POST", ssf.PathPoll + c.StreamID},
	}
	for _, cred := range []string{"", "lkr_not-a-credential", e.cred + "x", "a b"} {
		for _, r := range routes {
			req, _ := http.NewRequest(r.method, e.url+r.path, strings.NewReader(`{"stream_id":"`+c.StreamID+`"}`))
			req.Header.Set("Content-Type", "application/json")
			if cred != "" {
				req.Header.Set("Authorization", "Bearer "+cred)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]string
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || body["err"] != "authentication_failed" ||
				!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s with credential %q = %d %v (WWW-Authenticate %q); want 401 authentication_failed",
					r.method, r.path, cred, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
			}
		}
	}
	// Nothing was changed by the refused requests.
	var list []config
	e.want(http.StatusOK, "GET", ssf.PathStream, e.cred, nil, &list)
	if len(list) != 1 {
		t.Errorf("%d streams after refused requests, want 1", len(list))
	}
}

// The whole life of a stream through the configuration endpoint.
func TestStreamLifecycle(t *testing.T) {
	e := newEnv(t)
	c := e.createPoll()
	if c.StreamID == "" || c.Iss != e.url || c.Aud != "https://api.example" || c.Delivery.Method != ssf.MethodPoll ||
		c.Delivery.EndpointURL != e.url+ssf.PathPoll+c.StreamID || c.MinVerificationInterval < 1 {
		t.Errorf("created stream = %+v", c)
	}
	all := []string{ssf.EventTypeSessionRevoked, ssf.EventTypeCredentialChange}
	if !slices.Equal(c.EventsSupported, all) || !slices.Equal(c.EventsRequested, all) || !slices.Equal(c.EventsDelivered, all) {
		t.Errorf("a stream that asks for nothing in particular gets every supported event: %+v", c)
	}

	var got config
	e.want(http.StatusOK, "GET", ssf.PathStream+"?stream_id="+c.StreamID, e.cred, nil, &got)
	if got.StreamID != c.StreamID {
		t.Errorf("GET = %+v", got)
	}

	// PATCH changes what it names and keeps the rest.
	var patched config
	e.want(http.StatusOK, "PATCH", ssf.PathStream, e.cred, map[string]any{"stream_id": c.StreamID,
		"events_requested": []string{ssf.EventTypeSessionRevoked, "urn:example:unknown-event"}, "iss": e.url}, &patched)
	if !slices.Equal(patched.EventsDelivered, []string{ssf.EventTypeSessionRevoked}) ||
		!slices.Equal(patched.EventsRequested, []string{ssf.EventTypeSessionRevoked, "urn:example:unknown-event"}) ||
		patched.Delivery.Method != ssf.MethodPoll {
		t.Errorf("PATCH events_requested: %+v (unknown event types are ignored, not delivered)", patched)
	}
	e.want(http.StatusOK, "PATCH", ssf.PathStream, e.cred, map[string]any{"stream_id": c.StreamID, "description": "mine"}, &patched)
	if patched.Description != "mine" || !slices.Equal(patched.EventsDelivered, []string{ssf.EventTypeSessionRevoked}) {
		t.Errorf("PATCH description changed more than the description: %+v", patched)
	}

	// PUT replaces: what is absent goes back to its default.
	var replaced config
	e.want(http.StatusOK, "PUT", ssf.PathStream, e.cred, map[string]any{"stream_id": c.StreamID,
		"delivery": map[string]any{"method": ssf.MethodPush, "endpoint_url": "https://api.example/ssf",
			"authorization_header": "Bearer push-secret"}}, &replaced)
	if replaced.Delivery.Method != ssf.MethodPush || replaced.Delivery.EndpointURL != "https://api.example/ssf" ||
		replaced.Delivery.AuthorizationHeader != "Bearer push-secret" || replaced.Description != "" ||
		!slices.Equal(replaced.EventsDelivered, all) {
		t.Errorf("PUT = %+v", replaced)
	}

	var list []config
	e.want(http.StatusOK, "GET", ssf.PathStream, e.cred, nil, &list)
	if len(list) != 1 || list[0].StreamID != c.StreamID {
		t.Errorf("list = %+v", list)
	}
	e.want(http.StatusNoContent, "DELETE", ssf.PathStream+"?stream_id="+c.StreamID, e.cred, nil, nil)
	e.want(http.StatusNotFound, "GET", ssf.PathStream+"?stream_id="+c.StreamID, e.cred, nil, nil)
	e.want(http.StatusOK, "GET", ssf.PathStream, e.cred, nil, &list)
	if len(list) != 0 {
		t.Errorf("list after delete = %+v, want []", list)
	}
}

// A receiver sees and manages only its own streams: another receiver's
// stream is 404 on every route, exactly like one that does not exist.
func TestAnotherReceiversStream(t *testing.T) {
	e := newEnv(t)
	mine := e.createPoll()
	_, otherCred := e.receiver("other")
	var list []config
	e.want(http.StatusOK, "GET", ssf.PathStream, otherCred, nil, &list)
	if len(list) != 0 {
		t.Errorf("another receiver lists %d streams, want none", len(list))
	}
	body := map[string]any{"stream_id": mine.StreamID, "status": "disabled", "description": "x"}
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"GET", ssf.PathStream + "?stream_id=" + mine.StreamID, nil},
		{"PATCH", ssf.PathStream, body},
		{"PUT", ssf.PathStream, body},
		{"DELETE", ssf.PathStream + "?stream_id=" + mine.StreamID, nil},
		{"GET", ssf.PathStatus + "?stream_id=" + mine.StreamID, nil},
		{"POST", ssf.PathStatus, body},
		{"POST", ssf.PathVerify, body},
		{"POST", ssf.PathPoll + mine.StreamID, map[string]any{"ack": []string{}}},
	} {
		status, b := e.do(r.method, r.path, otherCred, r.body)
		if status != http.StatusNotFound {
			t.Errorf("%s %s by another receiver = %d %s, want 404", r.method, r.path, status, b)
		}
		status, _ = e.do(r.method, strings.ReplaceAll(r.path, mine.StreamID, "no-such-stream"), e.cred,
			map[string]any{"stream_id": "no-such-stream", "status": "enabled"})
		if status != http.StatusNotFound {
			t.Errorf("%s %s of an unknown stream = %d, want 404", r.method, r.path, status)
		}
	}
	var got config
	e.want(http.StatusOK, "GET", ssf.PathStream+"?stream_id="+mine.StreamID, e.cred, nil, &got)
	if got.Description != "" {
		t.Errorf("another receiver changed the stream: %+v", got)
	}
	var st map[string]string
	e.want(http.StatusOK, "GET", ssf.PathStatus+"?stream_id="+mine.StreamID, e.cred, nil, &st)
	if st["status"] != "enabled" {
		t.Errorf("another receiver changed the status: %v", st)
	}
}

// Malformed stream configurations are 400 with a message, and change
// nothing.
func TestMalformedStreamConfigs(t *testing.T) {
	e := newEnv(t, func(o *ssf.Options) { o.AllowLoopback = false })
	c := e.createPoll()
	many := make([]string, 33)
	for i := range many {
		many[i] = "urn:example:" + strings.Repeat("x", i+1)
	}
	for _, tc := range []struct {
		name string
		body any
	}{
		{"not JSON", "{"},
		{"an array", "[]"},
		{"delivery not an object", map[string]any{"delivery": "push"}},
		{"unknown method", map[string]any{"delivery": map[string]any{"method": "urn:example:carrier-pigeon"}}},
		{"no method", map[string]any{"delivery": map[string]any{"endpoint_url": "https://api.example/x"}}},
		{"push without URL", map[string]any{"delivery": map[string]any{"method": ssf.MethodPush}}},
		{"push to ftp", map[string]any{"delivery": map[string]any{"method": ssf.MethodPush, "endpoint_url": "ftp://api.example/x"}}},
		{"push to a relative URL", map[string]any{"delivery": map[string]any{"method": ssf.MethodPush, "endpoint_url": "/ssf"}}},
		{"push with user info", map[string]any{"delivery": map[string]any{"method": ssf.MethodPush, "endpoint_url": "https://u:p@api.example/x"}}},
		{"push to loopback", map[string]any{"delivery": map[string]any{"method": ssf.MethodPush, "endpoint_url": "http://127.0.0.1:9/x"}}},
		{"push to localhost", map[string]any{"delivery": map[string]any{"method": ssf.MethodPush, "endpoint_url": "http://localhost/x"}}},
		{"push to the metadata service", map[string]any{"delivery": map[string]any{"method": ssf.MethodPush, "endpoint_url": "http://169.254.169.254/latest"}}},
		{"push to an IPv6 link-local address", map[string]any{"delivery": map[string]any{"method": ssf.MethodPush, "endpoint_url": "http://[fe80::1]/x"}}},
		{"header injection", map[string]any{"delivery": map[string]any{"method": ssf.MethodPush, "endpoint_url": "https://api.example/x",
			"authorization_header": "Bearer a\r\nX-Evil: 1"}}},
		{"poll with an authorization header", map[string]any{"delivery": map[string]any{"method": ssf.MethodPoll, "authorization_header": "x"}}},
		{"events_requested not an array", map[string]any{"events_requested": ssf.EventTypeSessionRevoked}},
		{"events_requested of numbers", map[string]any{"events_requested": []int{1}}},
		{"too many events requested", map[string]any{"events_requested": many}},
		{"an empty event type", map[string]any{"events_requested": []string{""}}},
		{"a huge event type", map[string]any{"events_requested": []string{strings.Repeat("u", 3000)}}},
		{"description not a string", map[string]any{"description": 7}},
	} {
		status, b := e.do("POST", ssf.PathStream, e.cred, tc.body)
		var body map[string]string
		_ = json.Unmarshal(b, &body)
		if status != http.StatusBadRequest || body["err"] == "" || body["description"] == "" {
			t.Errorf("create with %s = %d %s; want 400 with err and description", tc.name, status, b)
		}
	}
	// Updates: the same checks, plus transmitter-supplied members that do
	// not match.
	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"no stream_id", map[string]any{"description": "x"}},
		{"another iss", map[string]any{"iss": "https://evil.example"}},
		{"another aud", map[string]any{"aud": "https://other.example"}},
		{"an aud list", map[string]any{"aud": []string{"https://api.example", "https://other.example"}}},
		{"a wrong events_delivered", map[string]any{"events_delivered": []string{}}},
		{"a wrong events_supported", map[string]any{"events_supported": []string{"urn:x"}}},
		{"another poll URL", map[string]any{"delivery": map[string]any{"method": ssf.MethodPoll, "endpoint_url": "https://evil.example/poll"}}},
		{"a wrong min_verification_interval", map[string]any{"min_verification_interval": 0}},
	} {
		if _, ok := tc.body["stream_id"]; !ok && tc.name != "no stream_id" {
			tc.body["stream_id"] = c.StreamID
		}
		for _, method := range []string{"PATCH", "PUT"} {
			if status, b := e.do(method, ssf.PathStream, e.cred, tc.body); status != http.StatusBadRequest {
				t.Errorf("%s with %s = %d %s; want 400", method, tc.name, status, b)
			}
		}
	}
	var list []config
	e.want(http.StatusOK, "GET", ssf.PathStream, e.cred, nil, &list)
	if len(list) != 1 || list[0].Description != "" || list[0].Delivery.Method != ssf.MethodPoll || len(list[0].EventsDelivered) != 2 {
		t.Errorf("streams after refused requests: %+v", list)
	}
	// Bad status values.
	for _, body := range []any{map[string]any{"stream_id": c.StreamID, "status": "on"}, map[string]any{"stream_id": c.StreamID},
		map[string]any{"stream_id": c.StreamID, "status": 1}} {
		if status, b := e.do("POST", ssf.PathStatus, e.cred, body); status != http.StatusBadRequest {
			t.Errorf("status %v = %d %s; want 400", body, status, b)
		}
	}
	if status, _ := e.do("DELETE", ssf.PathStream, e.cred, nil); status != http.StatusBadRequest {
		t.Errorf("DELETE without stream_id = %d, want 400", status)
	}
}

// A receiver has at most 64 streams; the 65th is 409.
func TestStreamLimit(t *testing.T) {
	e := newEnv(t)
	for range 64 {
		e.createPoll()
	}
	if status, b := e.do("POST", ssf.PathStream, e.cred, map[string]any{}); status != http.StatusConflict {
		t.Errorf("65th stream = %d %s, want 409", status, b)
	}
	_, other := e.receiver("other")
	e.want(http.StatusCreated, "POST", ssf.PathStream, other, map[string]any{}, nil)
}

func TestStatus(t *testing.T) {
	e := newEnv(t)
	c := e.createPoll()
	var st map[string]string
	e.want(http.StatusOK, "GET", ssf.PathStatus+"?stream_id="+c.StreamID, e.cred, nil, &st)
	if st["status"] != "enabled" || st["stream_id"] != c.StreamID {
		t.Errorf("status = %v", st)
	}
	for _, s := range []string{"paused", "disabled", "enabled"} {
		e.want(http.StatusOK, "POST", ssf.PathStatus, e.cred, map[string]any{"stream_id": c.StreamID, "status": s, "reason": "test " + s}, &st)
		if st["status"] != s || st["reason"] != "test "+s {
			t.Errorf("after setting %s: %v", s, st)
		}
		e.want(http.StatusOK, "GET", ssf.PathStatus+"?stream_id="+c.StreamID, e.cred, nil, &st)
		if st["status"] != s {
			t.Errorf("read back %v, want %s", st, s)
		}
	}
}
