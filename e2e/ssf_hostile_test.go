package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

// Hostile receivers against the real binary: a bad credential, another
// receiver's stream, malformed stream configurations, an oversized ack list
// and unknown event types. Each is refused with a 4xx (never a 5xx) and
// changes nothing; unknown event types are ignored, not delivered.
func TestSSFHostileReceivers(t *testing.T) {
	p := e2etest.StartServer(t, ssfEnv(map[string]string{"APP_ENV": "production", "REFRESH_TOKEN_SECRET": strings.Repeat("x", 40)}))
	mine := receiverCredential(t, p, "mine")
	theirs := receiverCredential(t, p, "theirs")
	c := &http.Client{Timeout: 10 * time.Second}
	r := mustCall(t, c, "POST", p.URL+"/ssf/stream", map[string]any{
		"events_requested": []string{"urn:example:made-up-event", "https://schemas.openid.net/secevent/caep/event-type/session-revoked"}}, mine, http.StatusCreated)
	id := r.str("stream_id")
	if d, _ := r.body["events_delivered"].([]any); len(d) != 1 || d[0] != "https://schemas.openid.net/secevent/caep/event-type/session-revoked" {
		t.Errorf("events_delivered %v: an unknown event type must be ignored", r.body["events_delivered"])
	}
	acks := make([]string, 1001)
	for i := range acks {
		acks[i] = "x"
	}
	for _, x := range []struct {
		what, method, path string
		body               any
		cred               string
		status             int
	}{
		{"no credential", "GET", "/ssf/stream", nil, "", 401},
		{"a wrong credential", "GET", "/ssf/stream", nil, "lkr_" + strings.Repeat("A", 43), 401},
		{"another receiver's stream", "GET", "/ssf/stream?stream_id=" + id, nil, theirs, 404},
		{"another receiver's stream deleted", "DELETE", "/ssf/stream?stream_id=" + id, nil, theirs, 404},
		{"another receiver's stream polled", "POST", "/ssf/poll/" + id, map[string]any{}, theirs, 404},
		{"another receiver's stream paused", "POST", "/ssf/status", map[string]any{"stream_id": id, "status": "paused"}, theirs, 404},
		{"a delivery that is not an object", "POST", "/ssf/stream", map[string]any{"delivery": []int{1}}, mine, 400},
		{"an unknown delivery method", "POST", "/ssf/stream", map[string]any{"delivery": map[string]any{"method": "smtp"}}, mine, 400},
		{"a push to the metadata service", "POST", "/ssf/stream", map[string]any{"delivery": map[string]any{
			"method": "urn:ietf:rfc:8935", "endpoint_url": "http://169.254.169.254/latest/meta-data"}}, mine, 400},
		{"a push to loopback in production", "POST", "/ssf/stream", map[string]any{"delivery": map[string]any{
			"method": "urn:ietf:rfc:8935", "endpoint_url": "http://127.0.0.1:22/"}}, mine, 400},
		{"an oversized ack list", "POST", "/ssf/poll/" + id, map[string]any{"ack": acks}, mine, 400},
		{"a body over 64 KiB", "POST", "/ssf/stream", map[string]any{"description": strings.Repeat("d", 70<<10)}, mine, 413},
	} {
		got, err := call(c, x.method, p.URL+x.path, x.body, x.cred)
		if err != nil {
			t.Fatalf("%s: %v", x.what, err)
		}
		if got.status != x.status || got.str("err") == "" {
			t.Errorf("%s: %d %s; want %d with an err", x.what, got.status, got.raw, x.status)
		}
	}
	st := mustCall(t, c, "GET", p.URL+"/ssf/status?stream_id="+id, nil, mine, http.StatusOK)
	if st.str("status") != "enabled" {
		t.Errorf("status after refused requests: %s", st.raw)
	}
	if strings.Contains(p.Logs(), `"level":"ERROR"`) {
		t.Errorf("hostile requests logged errors:\n%s", p.Logs())
	}
}
