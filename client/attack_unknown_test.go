package client_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/client"
)

// advanceTimerOr is AdvanceTimer that gives up, reporting false, when done
// is ready first.
func (w *world) advanceTimerOr(t *testing.T, d time.Duration, done <-chan struct{}) bool {
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
			return true
		}
		select {
		case <-changed:
		case <-done:
			return false
		case <-deadline:
			t.Fatalf("the client set no timer due within %v", d)
		}
	}
}

// proxyAnswer answers a refresh with status, headers and body, without
// reaching the server.
func proxyAnswer(status int, body string, headers ...string) func(http.ResponseWriter, func() *httptest.ResponseRecorder) {
	return func(w http.ResponseWriter, _ func() *httptest.ResponseRecorder) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// The first attempt's answer is lost after the server rotated; the retry
// is turned away by a proxy before reaching the server (its rate limit, a
// request timeout). That answer says nothing about the first attempt: the
// outcome is still unknown, the session still at stake, and the budget
// still open, so the client retries once more, after the proxy's
// Retry-After, within the reuse interval, and the server answers with the
// current tokens. Had it stopped and held, the next refresh would come
// whenever the application next called, past the interval, and the
// session would be revoked for reuse.
func TestRetryGoesOnAfterAProxyTurnsARetryAway(t *testing.T) {
	for _, tt := range []struct {
		name    string
		respond func(http.ResponseWriter, func() *httptest.ResponseRecorder)
		pause   time.Duration // before the third attempt
	}{
		{"429 with Retry-After", proxyAnswer(http.StatusTooManyRequests, "<html>slow down</html>", "Retry-After", "1"), time.Second},
		{"408 from a proxy", proxyAnswer(http.StatusRequestTimeout, "<html>request timeout</html>"), 500 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fe := newFaultEnv(t)
			c := fe.signedIn(t, "turned@example.com")
			rt1 := c.Tokens().RefreshToken
			fe.world.Advance(accessLifetime) // expired: the call waits for the refresh
			fe.front.mu.Lock()
			fe.front.plan, fe.front.respond = []fault{stall, custom}, tt.respond
			fe.front.mu.Unlock()

			type result struct {
				status int
				err    error
			}
			done := make(chan result, 1)
			finished := make(chan struct{})
			go func() { st, err := fe.me(c); done <- result{st, err}; close(finished) }()
			await(t, fe.front.stalled, "the stalled request")
			fe.world.AdvanceTimer(t, client.DefaultRefreshAttemptTimeout)
			fe.world.AdvanceTimer(t, 250*time.Millisecond)
			fe.world.advanceTimerOr(t, tt.pause, finished)
			r := await(t, done, "GET /auth/me")
			if r.err != nil || r.status != http.StatusOK {
				// What the application sees next: its next call, a minute on.
				fe.world.Advance(time.Minute)
				_, err := c.Refresh(t.Context())
				t.Fatalf("GET /auth/me = %d, %v; want 200 from a third attempt (a minute later, Refresh = %v)", r.status, r.err, err)
			}
			seen := fe.front.refreshes()
			if len(seen) != 3 || seen[2].token != rt1 || seen[2].status != http.StatusOK || seen[2].at.Sub(seen[0].at) >= client.DefaultReuseInterval {
				t.Fatalf("refreshes %+v; want the lost one, the one turned away, and the same token answered inside the interval", seen)
			}
			if !fe.logged("refresh.reissued") || fe.logged("refresh.reuse_detected") {
				t.Error("the third attempt was not answered with the current tokens")
			}
		})
	}
}
