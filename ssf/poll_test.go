package ssf_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/ssf"
	"github.com/latchkey-dev/latchkey/store"
)

// addVerification records a verification event for a stream straight in the
// store (the API allows one a second).
func (e *env) addVerification(streamID, state string) string {
	e.t.Helper()
	id := strings.Repeat("0", 8) + state + time.Now().Format("150405.000000000")
	err := e.db.AddStreamEvent(context.Background(), store.Event{ID: id, Kind: store.EventVerification, StreamID: streamID,
		State: state, At: time.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// A verification request puts a verification SET on the stream (SSF 1.0
// §8.1.4): signed with the access-token key, typ secevent+jwt, the stream
// as its subject, the receiver's state echoed, no sub and no exp. Once
// acknowledged it is not delivered again. A second request within
// min_verification_interval is 429.
func TestVerificationByPoll(t *testing.T) {
	e := newEnv(t)
	c := e.createPoll()
	e.want(http.StatusNoContent, "POST", ssf.PathVerify, e.cred, map[string]any{"stream_id": c.StreamID, "state": "s-123"}, nil)
	status, _ := e.do("POST", ssf.PathVerify, e.cred, map[string]any{"stream_id": c.StreamID, "state": "again"})
	if status != http.StatusTooManyRequests {
		t.Errorf("second verification at once = %d, want 429", status)
	}
	p := e.poll(c, map[string]any{"returnImmediately": true})
	if len(p.Sets) != 1 || p.MoreAvailable {
		t.Fatalf("poll = %+v, want one SET", p)
	}
	for jti, set := range p.Sets {
		typ, claims := e.claims(set)
		if typ != "secevent+jwt" {
			t.Errorf("typ %q, want secevent+jwt", typ)
		}
		if claims["jti"] != jti || claims["iss"] != e.url || claims["aud"] != "https://api.example" || claims["iat"] == nil {
			t.Errorf("claims %v", claims)
		}
		if _, ok := claims["sub"]; ok {
			t.Errorf("a SET has sub: %v", claims)
		}
		if _, ok := claims["exp"]; ok {
			t.Errorf("a SET has exp: %v", claims)
		}
		sub, _ := claims["sub_id"].(map[string]any)
		if sub["format"] != "opaque" || sub["id"] != c.StreamID {
			t.Errorf("sub_id %v, want the stream as an opaque subject", sub)
		}
		typURI, ev := eventOf(t, claims)
		if typURI != ssf.EventTypeVerification || ev["state"] != "s-123" {
			t.Errorf("event %s %v", typURI, ev)
		}
		p = e.poll(c, map[string]any{"ack": []string{jti}, "returnImmediately": true})
		if len(p.Sets) != 0 {
			t.Errorf("after the ack: %+v, want nothing", p)
		}
	}
}

// A poll acknowledges, then returns the next SETs in order, at most
// maxEvents, saying whether more wait; SETs not acknowledged come again.
func TestPollAckAndMaxEvents(t *testing.T) {
	e := newEnv(t)
	c := e.createPoll()
	var ids []string
	for i := range 5 {
		ids = append(ids, e.addVerification(c.StreamID, string(rune('a'+i))))
	}
	p := e.poll(c, map[string]any{"maxEvents": 2, "returnImmediately": true})
	if len(p.Sets) != 2 || !p.MoreAvailable || p.Sets[ids[0]] == "" || p.Sets[ids[1]] == "" {
		t.Fatalf("first poll = %d SETs, more %v; want the first two and more", len(p.Sets), p.MoreAvailable)
	}
	// Not acknowledged: the same two again.
	p = e.poll(c, map[string]any{"maxEvents": 2, "returnImmediately": true})
	if len(p.Sets) != 2 || p.Sets[ids[0]] == "" {
		t.Errorf("unacknowledged SETs were not delivered again: %d", len(p.Sets))
	}
	// Acknowledge the first two (one as an error report: done with too).
	p = e.poll(c, map[string]any{"ack": []string{ids[0]}, "setErrs": map[string]any{ids[1]: map[string]string{"err": "invalid_request", "description": "test"}},
		"returnImmediately": true})
	if len(p.Sets) != 3 || p.MoreAvailable || p.Sets[ids[2]] == "" || p.Sets[ids[4]] == "" {
		t.Errorf("after acknowledging two: %d SETs, more %v; want the last three", len(p.Sets), p.MoreAvailable)
	}
	// maxEvents 0 only acknowledges.
	p = e.poll(c, map[string]any{"ack": ids[2:], "maxEvents": 0})
	if len(p.Sets) != 0 {
		t.Errorf("maxEvents 0 returned %d SETs", len(p.Sets))
	}
	p = e.poll(c, map[string]any{"returnImmediately": true})
	if len(p.Sets) != 0 {
		t.Errorf("after acknowledging everything: %d SETs", len(p.Sets))
	}
}

// Hostile polls are 400 and acknowledge nothing.
func TestPollHostile(t *testing.T) {
	e := newEnv(t)
	c := e.createPoll()
	id := e.addVerification(c.StreamID, "x")
	big := make([]string, 1001)
	for i := range big {
		big[i] = id
	}
	path := ssf.PathPoll + c.StreamID
	for _, tc := range []struct {
		name string
		body any
	}{
		{"an oversized ack list", map[string]any{"ack": big}},
		{"an ack list of numbers", map[string]any{"ack": []int{1, 2}}},
		{"a huge jti", map[string]any{"ack": []string{strings.Repeat("j", 200)}}},
		{"an empty jti", map[string]any{"ack": []string{""}}},
		{"negative maxEvents", map[string]any{"maxEvents": -1}},
		{"maxEvents as a string", map[string]any{"maxEvents": "10"}},
		{"setErrs as a list", map[string]any{"setErrs": []string{id}}},
		{"malformed JSON", `{"ack": [`},
	} {
		if status, b := e.do("POST", path, e.cred, tc.body); status != http.StatusBadRequest {
			t.Errorf("poll with %s = %d %s; want 400", tc.name, status, b)
		}
	}
	p := e.poll(c, map[string]any{"returnImmediately": true})
	if p.Sets[id] == "" {
		t.Error("a refused poll acknowledged the SET")
	}
	// A push stream cannot be polled.
	var push config
	e.want(http.StatusCreated, "POST", ssf.PathStream, e.cred, map[string]any{"delivery": map[string]any{
		"method": ssf.MethodPush, "endpoint_url": "https://api.example/ssf"}}, &push)
	if status, _ := e.do("POST", ssf.PathPoll+push.StreamID, e.cred, map[string]any{}); status != http.StatusBadRequest {
		t.Errorf("polling a push stream = %d, want 400", status)
	}
}

// A poll that may wait returns as soon as an event arrives; with nothing to
// deliver it returns empty after the long-poll bound, or at once when the
// transmitter drains.
func TestLongPoll(t *testing.T) {
	e := newEnv(t, func(o *ssf.Options) { o.LongPoll = 300 * time.Millisecond })
	c := e.createPoll()
	start := time.Now()
	p := e.poll(c, map[string]any{"returnImmediately": false})
	if len(p.Sets) != 0 || time.Since(start) < 300*time.Millisecond {
		t.Errorf("an empty long poll returned %d SETs after %s; want none after the bound", len(p.Sets), time.Since(start))
	}

	got := make(chan pollResp, 1)
	go func() { got <- e.poll(c, map[string]any{"returnImmediately": false, "maxEvents": 5}) }()
	e.want(http.StatusNoContent, "POST", ssf.PathVerify, e.cred, map[string]any{"stream_id": c.StreamID, "state": "wake"}, nil)
	// The poll returns the event, whether it was already waiting or not;
	// it may return empty first if the bound ran out, so poll until seen.
	deadline := time.Now().Add(10 * time.Second)
	for p := <-got; len(p.Sets) == 0; p = e.poll(c, map[string]any{"returnImmediately": false}) {
		if time.Now().After(deadline) {
			t.Fatal("a waiting poll never returned the verification event")
		}
	}

	e2 := newEnv(t, func(o *ssf.Options) { o.LongPoll = time.Minute })
	c2 := e2.createPoll()
	done := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		e2.poll(c2, map[string]any{"returnImmediately": false})
		done <- time.Since(start)
	}()
	e2.tr.Drain()
	select {
	case d := <-done:
		if d > 30*time.Second {
			t.Errorf("a waiting poll took %s to return after Drain", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a waiting poll did not return after Drain")
	}
}

// Paused streams hold their events and deliver them once enabled; disabled
// streams drop them.
func TestPollPausedAndDisabled(t *testing.T) {
	e := newEnv(t)
	c := e.createPoll()
	setStatus := func(s string) {
		e.want(http.StatusOK, "POST", ssf.PathStatus, e.cred, map[string]any{"stream_id": c.StreamID, "status": s}, nil)
	}
	setStatus("paused")
	held := e.addVerification(c.StreamID, "held")
	if p := e.poll(c, map[string]any{"returnImmediately": true}); len(p.Sets) != 0 {
		t.Errorf("a paused stream delivered %d SETs", len(p.Sets))
	}
	setStatus("enabled")
	if p := e.poll(c, map[string]any{"returnImmediately": true, "ack": []string{}}); p.Sets[held] == "" {
		t.Errorf("the held event was not delivered once enabled: %v", p.Sets)
	}
	setStatus("disabled")
	e.addVerification(c.StreamID, "dropped")
	setStatus("enabled")
	if p := e.poll(c, map[string]any{"returnImmediately": true, "ack": []string{held}}); len(p.Sets) != 0 {
		t.Errorf("a disabled stream kept %d SETs for later", len(p.Sets))
	}
}
