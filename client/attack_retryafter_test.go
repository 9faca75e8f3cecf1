package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/client"
)

// unavailableWith answers 503 temporarily_unavailable with the given
// headers, without reaching the server.
func unavailableWith(headers ...string) func(http.ResponseWriter, func() *httptest.ResponseRecorder) {
	return func(w http.ResponseWriter, _ func() *httptest.ResponseRecorder) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":"temporarily_unavailable","message":"retry later"}`))
	}
}

// A Retry-After far beyond anything meaningful (a broken proxy's, or one
// that overflows a time.Duration) neither hangs the callers, nor turns
// into a tiny pause that hammers the endpoint, nor holds the session's
// refreshes for days: a call that needs a refresh gets the 503 at once, and
// the hold is at most client.MaxRetryAfter.
func TestHugeRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		name, retryAfter string
	}{
		// d + the attempt timeout overflowed the budget check: the retry
		// pause was 292 years, and every caller waited for it.
		{"overflowing the budget", "9223372036"},
		// Overflowed time.Duration: wrapped round to 290ms, a pause shorter
		// than the first retry's.
		{"wrapping round", "18446744074"},
		{"a day", "86400"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fe := newFaultEnv(t)
			c := fe.signedIn(t, "huge@example.com")
			fe.world.Advance(accessLifetime) // expired: calls wait for the refresh
			fe.front.mu.Lock()
			fe.front.always, fe.front.respond = custom, unavailableWith("Retry-After", tt.retryAfter)
			fe.front.mu.Unlock()

			done := make(chan error, 1)
			go func() { _, err := c.Refresh(t.Context()); done <- err }()
			if err := await(t, done, "Refresh"); !isCode(err, client.CodeUnavailable) {
				t.Fatalf("Refresh = %v; want the 503", err)
			}
			if n := len(fe.front.refreshes()); n != 1 {
				t.Fatalf("%d refresh requests; want 1 (no Retry-After this long fits in the reuse interval)", n)
			}
			// Held: nothing is sent, just short of the cap.
			fe.world.Advance(client.MaxRetryAfter - time.Second)
			if _, err := c.Refresh(t.Context()); !isCode(err, client.CodeUnavailable) || len(fe.front.refreshes()) != 1 {
				t.Fatalf("Refresh within the hold = %v with %d requests; want the held 503 and no request", err, len(fe.front.refreshes()))
			}
			// Past the cap, the endpoint is back, and the session goes on.
			fe.front.setAlways(pass, "")
			fe.world.Advance(2 * time.Second)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if _, err := c.Refresh(ctx); err != nil {
				t.Fatalf("Refresh past %v: %v; want the hold over", client.MaxRetryAfter, err)
			}
			fe.noReuse(t)
		})
	}
}

// Retry-After as an HTTP-date is a time by the server's clock: it is
// measured against the answer's Date, not against the client's clock, so a
// client whose clock is an hour off holds for the 30s asked for — not an
// hour and a half (clock behind), nor the 1s backoff that hammers an
// endpoint which asked for 30s (clock ahead).
func TestRetryAfterDateWithAWrongClientClock(t *testing.T) {
	for _, tt := range []struct {
		name string
		skew time.Duration
	}{
		{"client clock an hour behind", -time.Hour},
		{"client clock an hour ahead", time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fe := newFaultEnv(t)
			skewed := func() time.Time { return fe.world.Now().Add(tt.skew) }
			c := fe.signedIn(t, "date@example.com", client.WithClock(skewed))
			fe.world.Advance(accessLifetime)
			fe.front.mu.Lock()
			fe.front.always = custom
			fe.front.respond = func(w http.ResponseWriter, server func() *httptest.ResponseRecorder) {
				now := fe.srv.Clock.Now()
				unavailableWith("Date", now.UTC().Format(http.TimeFormat),
					"Retry-After", now.Add(30*time.Second).UTC().Format(http.TimeFormat))(w, server)
			}
			fe.front.mu.Unlock()

			done := make(chan error, 1)
			go func() { _, err := c.Refresh(t.Context()); done <- err }()
			err := await(t, done, "Refresh")
			var ce *client.Error
			if !errors.As(err, &ce) || ce.RetryAfter != 30*time.Second {
				t.Fatalf("Refresh = %#v; want the 503 with a Retry-After of 30s", err)
			}
			fe.world.Advance(29 * time.Second)
			if _, err := c.Refresh(t.Context()); !isCode(err, client.CodeUnavailable) || len(fe.front.refreshes()) != 1 {
				t.Fatalf("Refresh 29s later = %v with %d requests; want the held 503 and no new request", err, len(fe.front.refreshes()))
			}
			fe.front.setAlways(pass, "")
			fe.world.Advance(2 * time.Second)
			if _, err := c.Refresh(t.Context()); err != nil {
				t.Fatalf("Refresh 31s later: %v; want the Retry-After over", err)
			}
		})
	}
}
