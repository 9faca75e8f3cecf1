package client_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/client"
)

// The server rotates the refresh token, but its answer is lost: it stalls
// until the client gives up, the connection drops, or a proxy answers 5xx
// instead. The client retries promptly with the same token, within the
// server's reuse interval (10s, measured on the server's clock, which
// moves with the client's), so the server answers with the session's
// current tokens and the session lives on.
func TestLostRefreshAnswerIsRetriedWithTheSameToken(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault fault
		// drive moves time as the client waits, and returns how long after
		// the first request the retry reached the server.
		drive func(t *testing.T, fe *faultEnv) time.Duration
	}{
		{"stalled answer", stall, func(t *testing.T, fe *faultEnv) time.Duration {
			await(t, fe.front.stalled, "the stalled request")
			fe.world.AdvanceTimer(t, client.DefaultRefreshAttemptTimeout) // the attempt times out
			fe.world.AdvanceTimer(t, 250*time.Millisecond)                // the pause before the retry
			return client.DefaultRefreshAttemptTimeout + 250*time.Millisecond
		}},
		{"dropped connection", drop, func(t *testing.T, fe *faultEnv) time.Duration {
			fe.world.AdvanceTimer(t, 250*time.Millisecond)
			return 250 * time.Millisecond
		}},
		{"502 from a proxy", badGateway, func(t *testing.T, fe *faultEnv) time.Duration {
			fe.world.AdvanceTimer(t, 250*time.Millisecond)
			return 250 * time.Millisecond
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fe := newFaultEnv(t)
			var s saver
			c := fe.signedIn(t, "lost@example.com", client.OnTokens(s.save))
			rt1 := c.Tokens().RefreshToken
			fe.world.Advance(accessLifetime) // the access token has expired: calls wait for the refresh

			fe.front.next(tt.fault)
			type result struct {
				status int
				err    error
			}
			done := make(chan result, 1)
			go func() { st, err := fe.me(c); done <- result{st, err} }()
			wantGap := tt.drive(t, fe)
			if r := await(t, done, "GET /auth/me"); r.err != nil || r.status != http.StatusOK {
				t.Fatalf("GET /auth/me = %d, %v; want 200 after the retry", r.status, r.err)
			}

			seen := fe.front.refreshes()
			if len(seen) != 2 {
				t.Fatalf("the server got %d refresh requests; want 2 (the lost one and its retry)", len(seen))
			}
			first, retry := seen[0], seen[1]
			if first.token != rt1 || first.status != http.StatusOK || first.gen != claims(rt1).Gen+1 {
				t.Errorf("first request: token reused %v, status %d, generation after %d; want the sign-in's token rotated to %d",
					first.token == rt1, first.status, first.gen, claims(rt1).Gen+1)
			}
			if retry.token != rt1 || retry.status != http.StatusOK || retry.gen != first.gen {
				t.Errorf("retry: same token %v, status %d, generation %d; want the same token answered 200 at generation %d",
					retry.token == rt1, retry.status, retry.gen, first.gen)
			}
			if gap := retry.at.Sub(first.at); gap != wantGap || gap >= client.DefaultReuseInterval {
				t.Errorf("the retry reached the server %v after the rotation; want %v, inside the reuse interval", gap, wantGap)
			}
			if !fe.logged("refresh.reissued") || fe.logged("refresh.reuse_detected") {
				t.Errorf("server events: reissued %v, reuse detected %v; want the retry reissued, no reuse",
					fe.logged("refresh.reissued"), fe.logged("refresh.reuse_detected"))
			}

			// The session is intact: it lists itself, rotates on, and what
			// is persisted is what the server expects next.
			list, err := c.Sessions(t.Context())
			if err != nil || len(list) != 1 || !list[0].Current {
				t.Fatalf("Sessions = %+v, %v; want the one current session", list, err)
			}
			if _, err := c.Refresh(t.Context()); err != nil {
				t.Fatalf("Refresh afterwards: %v", err)
			}
			if got, want := claims(s.last(t).RefreshToken).Gen, fe.front.generation(rt1); got != want {
				t.Errorf("persisted generation %d; the server's is %d", got, want)
			}
		})
	}
}

// A 503 with Retry-After that comes after the server rotated (the database
// timed out on the commit, say): the retry waits the Retry-After, and still
// lands inside the reuse interval.
func TestRetryAfterWithinTheReuseInterval(t *testing.T) {
	fe := newFaultEnv(t)
	c := fe.signedIn(t, "later@example.com")
	rt1 := c.Tokens().RefreshToken
	fe.world.Advance(accessLifetime)
	fe.front.next(lateDown)
	fe.front.setAlways(pass, "2")

	done := make(chan error, 1)
	go func() { _, err := c.Refresh(t.Context()); done <- err }()
	// Not after the pause of 250ms: after the Retry-After.
	fe.world.AdvanceTimer(t, 2*time.Second)
	if err := await(t, done, "Refresh"); err != nil {
		t.Fatal(err)
	}
	seen := fe.front.refreshes()
	if len(seen) != 2 || seen[0].gen != claims(rt1).Gen+1 || seen[1].at.Sub(seen[0].at) != 2*time.Second || seen[1].token != rt1 {
		t.Fatalf("refreshes %+v; want a rotation, then the same token again after Retry-After: 2", seen)
	}
	if !fe.logged("refresh.reissued") || fe.logged("refresh.reuse_detected") {
		t.Error("the retry was not answered with the current tokens")
	}
}

// When every answer is lost, the client retries only while a retry can
// end within the reuse interval of the first request: three attempts with
// the defaults (at 0, 3.25s and 6.75s, each given 3s), all reissued, none
// taken for reuse. Past the interval nothing can save the session if the
// server did rotate: the client says so when it next tries.
func TestRetriesStopWithinTheReuseInterval(t *testing.T) {
	fe := newFaultEnv(t)
	c := fe.signedIn(t, "budget@example.com")
	rt1 := c.Tokens().RefreshToken
	fe.world.Advance(accessLifetime)
	fe.front.setAlways(stall, "")

	done := make(chan error, 1)
	go func() { _, err := fe.me(c); done <- err }()
	for _, pause := range []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, 0} {
		await(t, fe.front.stalled, "a stalled request")
		fe.world.AdvanceTimer(t, client.DefaultRefreshAttemptTimeout)
		if pause > 0 {
			fe.world.AdvanceTimer(t, pause)
		}
	}
	err := await(t, done, "GET /auth/me")
	if err == nil || client.IsReauthRequired(err) {
		t.Fatalf("GET /auth/me with every answer lost = %v; want an error worth retrying", err)
	}
	seen := fe.front.refreshes()
	if len(seen) != 3 {
		t.Fatalf("%d refresh requests; want 3", len(seen))
	}
	for i, s := range seen {
		if s.token != rt1 || s.status != http.StatusOK || s.at.Sub(seen[0].at) >= client.DefaultReuseInterval {
			t.Errorf("request %d: same token %v, status %d, %v after the first; want the same token answered 200 inside the interval",
				i, s.token == rt1, s.status, s.at.Sub(seen[0].at))
		}
	}
	if fe.logged("refresh.reuse_detected") {
		t.Error("the server detected reuse")
	}
	if c.Tokens().RefreshToken != rt1 {
		t.Error("the client dropped its tokens")
	}

	// The next try, after the hold, is past the interval.
	fe.front.setAlways(pass, "")
	fe.world.Advance(2 * time.Second)
	_, err = c.Refresh(t.Context())
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != client.CodeRefreshReused {
		t.Errorf("Refresh past the interval = %v; want refresh_token_reused", err)
	}
}
