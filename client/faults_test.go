package client_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/client"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// world is the time of a test: the client's clock and timers and the
// server's clock, moved together by Advance, so that nothing sleeps and the
// server measures its reuse interval on the same time line as the client's
// timeouts and pauses.
type world struct {
	mu      sync.Mutex
	now     time.Time
	timers  map[*timer]bool
	changed chan struct{} // closed and replaced whenever a timer is set
	server  *testkit.Clock
}

type timer struct {
	at time.Time
	f  func()
}

func newWorld(server *testkit.Clock) *world {
	return &world{now: server.Now(), server: server, timers: map[*timer]bool{}, changed: make(chan struct{})}
}

func (w *world) Now() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.now }

// AfterFunc is the client's timer (client.WithTimers).
func (w *world) AfterFunc(d time.Duration, f func()) func() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	tm := &timer{w.now.Add(d), f}
	if d <= 0 {
		go f()
		return func() bool { return false }
	}
	w.timers[tm] = true
	close(w.changed)
	w.changed = make(chan struct{})
	return func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		set := w.timers[tm]
		delete(w.timers, tm)
		return set
	}
}

// Advance moves both clocks by d and fires the timers due.
func (w *world) Advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
	w.server.Advance(d)
	for tm := range w.timers {
		if !tm.at.After(w.now) {
			delete(w.timers, tm)
			go tm.f()
		}
	}
}

// AdvanceTimer waits until the client has set a timer to fire within d from
// now (it sets one for each attempt and each pause, and stops it when done
// with it), then advances by d.
func (w *world) AdvanceTimer(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		set, changed := false, w.changed
		for tm := range w.timers {
			if !tm.at.After(w.now.Add(d)) {
				set = true
			}
		}
		w.mu.Unlock()
		if set {
			w.Advance(d)
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("the client set no timer due within %v", d)
		}
	}
}

// fault is what the front does with one refresh request.
type fault int

const (
	pass       fault = iota
	stall            // the server refreshes; its answer never leaves until the client gives up
	drop             // the server refreshes; then the connection is closed without an answer
	badGateway       // the server refreshes; a proxy answers 502 instead
	down             // the server is not reached: 503 with Retry-After
	lateDown         // the server refreshes, then answers 503 with Retry-After (a commit that timed out)
	custom           // the front's respond answers, calling the server or not
)

// seenRefresh is a refresh request as the front saw it.
type seenRefresh struct {
	token  string    // the refresh token presented
	at     time.Time // by the server's clock
	status int       // what the real handler answered, 0 when not reached
	gen    int64     // the session's generation in the store afterwards
}

// front is the real Latchkey handler behind a front that does chosen
// things to refresh requests (POST /token) and records them; other
// requests pass.
type front struct {
	*httptest.Server
	srv *servertest.Server

	mu         sync.Mutex
	plan       []fault // for the next refresh requests, in order; then pass
	always     fault   // after plan
	retryAfter string  // the Retry-After of down
	seen       []seenRefresh
	stalled    chan struct{} // one per stalled request, when the server has answered it
	// respond answers a custom request; server runs the real handler on it
	// (the refresh is carried out) and returns its answer.
	respond func(w http.ResponseWriter, server func() *httptest.ResponseRecorder)
}

func newFront(t *testing.T, srv *servertest.Server) *front {
	f := &front{srv: srv, stalled: make(chan struct{}, 16)}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// next sets what happens to the coming refresh requests.
func (f *front) next(faults ...fault) { f.mu.Lock(); f.plan = faults; f.mu.Unlock() }

// setAlways sets what happens to every refresh request after the plan.
func (f *front) setAlways(x fault, retryAfter string) {
	f.mu.Lock()
	f.always, f.retryAfter = x, retryAfter
	f.mu.Unlock()
}

func (f *front) refreshes() []seenRefresh {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRefresh(nil), f.seen...)
}

func (f *front) serve(w http.ResponseWriter, r *http.Request) {
	h := f.srv.Config.Handler
	// The server's Date is by its clock, as every other time it sends (the
	// http.Server would write the machine's).
	w.Header().Set("Date", f.srv.Clock.Now().UTC().Format(http.TimeFormat))
	if r.Method != http.MethodPost || r.URL.Path != "/token" {
		h.ServeHTTP(w, r)
		return
	}
	var body struct {
		RefreshToken string `json:"refreshToken"`
	}
	raw, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(raw, &body)
	r.Body = io.NopCloser(bytes.NewReader(raw))

	f.mu.Lock()
	x := f.always
	if len(f.plan) > 0 {
		x, f.plan = f.plan[0], f.plan[1:]
	}
	retryAfter := f.retryAfter
	f.mu.Unlock()
	seen := seenRefresh{token: body.RefreshToken, at: f.srv.Clock.Now()}
	record := func() {
		f.mu.Lock()
		f.seen = append(f.seen, seen)
		f.mu.Unlock()
	}
	unavailable := func() {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":"temporarily_unavailable","message":"retry later"}`))
	}
	if x == down {
		record()
		unavailable()
		return
	}
	if x == custom {
		f.mu.Lock()
		respond := f.respond
		f.mu.Unlock()
		respond(w, func() *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			seen.status, seen.gen = rec.Code, f.generation(body.RefreshToken)
			return rec
		})
		record()
		return
	}
	rec := httptest.NewRecorder()
	if x == pass {
		rec = nil
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		seen.status = sw.status
	} else {
		h.ServeHTTP(rec, r)
		seen.status = rec.Code
	}
	seen.gen = f.generation(body.RefreshToken)
	record()
	switch x {
	case stall:
		f.stalled <- struct{}{}
		<-r.Context().Done() // the client gave up and closed the connection
	case drop:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	case badGateway:
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>502 Bad Gateway</html>"))
	case lateDown:
		unavailable()
	}
}

// generation returns the generation in the store of the session of a
// refresh token (0 when it cannot be read).
func (f *front) generation(refreshToken string) int64 {
	c := claims(refreshToken)
	sess, err := f.srv.App.Store.Session(context.Background(), c.Sid)
	if err != nil {
		return 0
	}
	return sess.Generation
}

// refreshClaims are the claims of a refresh token the tests look at.
type refreshClaims struct {
	Sid string `json:"sid"`
	Gen int64  `json:"gen"`
}

// claims reads a refresh token's claims, without verifying it.
func claims(tok string) refreshClaims {
	var c refreshClaims
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return c
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err == nil {
		_ = json.Unmarshal(raw, &c)
	}
	return c
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// faultEnv is a real server behind a front, on one world time line, and a
// client of it.
type faultEnv struct {
	*env
	world *world
	front *front
}

func newFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	e := newEnv(t)
	fe := &faultEnv{env: e, world: newWorld(e.srv.Clock), front: newFront(t, e.srv)}
	return fe
}

// client returns a client of the front on the world's time.
func (fe *faultEnv) client(t *testing.T, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{client.WithHTTPClient(&http.Client{Transport: fe.hits}),
		client.WithClock(fe.world.Now), client.WithTimers(fe.world.AfterFunc)}, opts...)
	c, err := client.New(fe.front.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signedIn returns a signed-in client of the front.
func (fe *faultEnv) signedIn(t *testing.T, email string, opts ...client.Option) *client.Client {
	t.Helper()
	c := fe.client(t, opts...)
	if _, err := c.SignUp(t.Context(), email, password); err != nil && !isCode(err, client.CodeEmailTaken) {
		t.Fatal(err)
	}
	if _, err := c.SignIn(t.Context(), email, password); err != nil {
		t.Fatal(err)
	}
	return c
}

// me calls GET /auth/me through c's Transport and returns the status, or
// the error.
func (fe *faultEnv) me(c *client.Client) (int, error) {
	api := &http.Client{Transport: c.Transport(fe.hits)}
	resp, err := api.Get(fe.front.URL + "/auth/me")
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// logged reports whether the server logged the audit event ev.
func (fe *faultEnv) logged(ev string) bool {
	return strings.Contains(fe.srv.Logs.String(), `"event":"`+ev+`"`)
}

// await receives from ch, failing the test if nothing comes within 10s:
// the client is stuck where it should not be.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}
