package ssf_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/ssf"
)

// endpoint is a push receiver (RFC 8935) for tests: it records what it is
// sent and answers as respond says (202 when respond is nil).
type endpoint struct {
	mu      sync.Mutex
	got     []pushed
	respond func(n int) (int, string) // n: how many requests came before
	srv     *httptest.Server
	arrived chan struct{}
}

type pushed struct {
	set, contentType, auth, accept string
}

func newEndpoint(t *testing.T, respond func(n int) (int, string)) *endpoint {
	ep := &endpoint{respond: respond, arrived: make(chan struct{}, 1000)}
	ep.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ep.mu.Lock()
		n := len(ep.got)
		ep.got = append(ep.got, pushed{set: string(b), contentType: r.Header.Get("Content-Type"),
			auth: r.Header.Get("Authorization"), accept: r.Header.Get("Accept")})
		ep.mu.Unlock()
		status, body := http.StatusAccepted, ""
		if ep.respond != nil {
			status, body = ep.respond(n)
		}
		if body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
		ep.arrived <- struct{}{}
	}))
	t.Cleanup(ep.srv.Close)
	return ep
}

func (ep *endpoint) requests() []pushed {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return append([]pushed(nil), ep.got...)
}

// waitFor waits until the endpoint has had n requests (at most 10s: the
// tests' timings are ten to a hundred times quicker).
func (ep *endpoint) waitFor(t *testing.T, n int) []pushed {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for len(ep.requests()) < n {
		select {
		case <-ep.arrived:
		case <-deadline:
			t.Fatalf("the endpoint got %d pushes, want %d", len(ep.requests()), n)
		}
	}
	return ep.requests()
}

// createPush creates a push stream to ep.
func (e *env) createPush(ep *endpoint, auth string) config {
	e.t.Helper()
	var c config
	e.want(http.StatusCreated, "POST", ssf.PathStream, e.cred, map[string]any{"delivery": map[string]any{
		"method": ssf.MethodPush, "endpoint_url": ep.srv.URL + "/events", "authorization_header": auth}}, &c)
	return c
}

// pending returns how many events wait on the stream (not acknowledged).
func (e *env) pending(streamID string) int {
	e.t.Helper()
	es, err := e.db.StreamEvents(context.Background(), streamID, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(es)
}

// A push stream gets its events POSTed as application/secevent+jwt with its
// authorization header, in order; what was delivered is acknowledged.
func TestPushDelivers(t *testing.T) {
	e := newEnv(t)
	ep := newEndpoint(t, nil)
	c := e.createPush(ep, "Bearer push-secret")
	e.want(http.StatusNoContent, "POST", ssf.PathVerify, e.cred, map[string]any{"stream_id": c.StreamID, "state": "first"}, nil)
	second := e.addVerification(c.StreamID, "second")
	got := ep.waitFor(t, 2)
	for _, p := range got {
		if p.contentType != "application/secevent+jwt" || p.auth != "Bearer push-secret" || p.accept != "application/json" {
			t.Errorf("push headers: %+v", p)
		}
	}
	_, c1 := e.claims(got[0].set)
	_, c2 := e.claims(got[1].set)
	if _, ev := eventOf(t, c1); ev["state"] != "first" || c2["jti"] != second {
		t.Errorf("pushed out of order: %v then %v", c1, c2)
	}
	waitUntil(t, "the delivered events are acknowledged", func() bool { return e.pending(c.StreamID) == 0 })
}

// A failed push (an error status, or no answer) is retried with backoff
// until it is delivered; nothing behind it overtakes it.
func TestPushRetries(t *testing.T) {
	e := newEnv(t)
	ep := newEndpoint(t, func(n int) (int, string) {
		if n < 3 {
			return http.StatusServiceUnavailable, ""
		}
		return http.StatusAccepted, ""
	})
	c := e.createPush(ep, "")
	first := e.addVerification(c.StreamID, "1")
	second := e.addVerification(c.StreamID, "2")
	got := ep.waitFor(t, 5)
	var jtis []any
	for _, p := range got[:5] {
		_, claims := e.claims(p.set)
		jtis = append(jtis, claims["jti"])
	}
	want := []any{first, first, first, first, second}
	for i := range want {
		if jtis[i] != want[i] {
			t.Fatalf("pushed %v, want %v (retries of the first, then the second)", jtis, want)
		}
	}
	waitUntil(t, "both events are acknowledged", func() bool { return e.pending(c.StreamID) == 0 })
}

// A SET the receiver refuses for good (400 with an error that retrying
// cannot cure) is passed over; one refused for a key it does not know yet
// is retried.
func TestPushRefused(t *testing.T) {
	e := newEnv(t)
	ep := newEndpoint(t, func(n int) (int, string) {
		switch n {
		case 0:
			return http.StatusBadRequest, `{"err":"invalid_audience","description":"not for me"}`
		case 1:
			return http.StatusBadRequest, `{"err":"invalid_key","description":"unknown kid"}`
		}
		return http.StatusAccepted, ""
	})
	c := e.createPush(ep, "")
	refused := e.addVerification(c.StreamID, "1")
	retried := e.addVerification(c.StreamID, "2")
	got := ep.waitFor(t, 3)
	var jtis []any
	for _, p := range got[:3] {
		_, claims := e.claims(p.set)
		jtis = append(jtis, claims["jti"])
	}
	if jtis[0] != refused || jtis[1] != retried || jtis[2] != retried {
		t.Errorf("pushed %v; want the refused one once, then the second twice", jtis)
	}
	waitUntil(t, "the stream is drained", func() bool { return e.pending(c.StreamID) == 0 })
}

// With two instances on one database, each event of a push stream is
// pushed once: one instance holds the stream's lease.
func TestPushOneInstancePerStream(t *testing.T) {
	e := newEnv(t)
	other, err := ssf.New(ssf.Options{Feed: e.db, Tokens: e.iss, Issuer: e.url, WatchInterval: 10 * time.Millisecond,
		PushLease: 2 * time.Second, PushBackoff: 10 * time.Millisecond, AllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	other.Start()
	defer other.Close()
	ep := newEndpoint(t, nil)
	c := e.createPush(ep, "")
	const n = 50
	want := map[string]bool{}
	for i := range n {
		want[e.addVerification(c.StreamID, string(rune('A'+i)))] = true
	}
	got := ep.waitFor(t, n)
	waitUntil(t, "every event is acknowledged", func() bool { return e.pending(c.StreamID) == 0 })
	seen := map[any]int{}
	for _, p := range ep.requests() {
		_, claims := e.claims(p.set)
		seen[claims["jti"]]++
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("event %s pushed %d times, want once", id, seen[id])
		}
	}
	if len(got) != n {
		t.Errorf("%d pushes for %d events", len(got), n)
	}
}

// waitUntil polls cond until it holds (at most 10s).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A push stream whose receiver has been quiet for a quarter of the
// inactivity timeout gets a verification event (no state: the transmitter
// asked), and its delivery counts as a sign of life, so a push receiver of
// a quiet system keeps its stream.
func TestPushLiveness(t *testing.T) {
	e := newEnv(t, func(o *ssf.Options) { o.Inactivity = 2 * time.Second; o.PushLease = time.Second })
	ep := newEndpoint(t, nil)
	c := e.createPush(ep, "")
	created, err := e.db.Stream(context.Background(), c.StreamID)
	if err != nil {
		t.Fatal(err)
	}
	got := ep.waitFor(t, 1)
	_, claims := e.claims(got[0].set)
	typ, ev := eventOf(t, claims)
	if typ != ssf.EventTypeVerification || ev["state"] != nil {
		t.Fatalf("pushed %s %v; want a verification event without state", typ, ev)
	}
	waitUntil(t, "the delivery counts as a sign of life", func() bool {
		s, err := e.db.Stream(context.Background(), c.StreamID)
		return err == nil && s.SeenAt.After(created.SeenAt)
	})
}
