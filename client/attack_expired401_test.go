package client_test

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// The client's clock stands still while the world's moves on: a laptop
// that sleeps (Go's monotonic clock, which time.Now compares by, stops
// while the machine is suspended on Linux and macOS), or an API whose
// clock is ahead of the client's. The client then sends an access token
// it believes good, and the API refuses it as expired (401, Bearer
// error="invalid_token"). The first time, the transport refreshes and
// resends. The tokens so got are marked as got by a 401; they were
// accepted, and expire in turn while the machine sleeps again: that 401
// too is an expired token, not a target that refuses every token, and the
// transport refreshes again rather than fail every call until the client's
// own clock says the token is due (here 13 more minutes).
func TestTransportRecoversFromEachExpiryAtTheTarget(t *testing.T) {
	fe := newFaultEnv(t)
	c := fe.signedIn(t, "sleeper@example.com")
	sleep := func() { fe.srv.Clock.Advance(accessLifetime + time.Minute) } // the world moves; the client's clock does not

	for i := range 3 {
		sleep()
		status, err := fe.me(c)
		if err != nil || status != http.StatusOK {
			t.Fatalf("after sleep %d: GET /auth/me = %d, %v; want 200 after a refresh", i+1, status, err)
		}
		fe.world.Advance(time.Minute) // awake for a minute, by every clock
		if status, err := fe.me(c); err != nil || status != http.StatusOK {
			t.Fatalf("awake after sleep %d: GET /auth/me = %d, %v", i+1, status, err)
		}
	}
	if n := len(fe.front.refreshes()); n != 3 {
		t.Errorf("%d refreshes; want one per sleep", n)
	}
	fe.noReuse(t)
}

// What lets an expired token be refreshed again does not let a target
// that refuses tokens for other reasons cost a rotation per call: half the
// backends of an API refusing every token (a wrong audience) while the
// others take it, or an API whose clock is a day ahead, refusing every
// token as expired before it was ever accepted.
func TestTransport401AfterAcceptanceDoesNotAmplify(t *testing.T) {
	for _, tt := range []struct {
		name   string
		refuse func(call int) bool
		ahead  time.Duration // of the API's clock
	}{
		{"half the backends refuse every token", func(call int) bool { return call%2 == 1 }, 0},
		{"the API's clock is a day ahead", func(int) bool { return true }, 24 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fe := newFaultEnv(t)
			c := fe.signedIn(t, "lb@example.com")
			var mu sync.Mutex
			calls := 0
			api := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls++
				refuse := tt.refuse(calls)
				mu.Unlock()
				w.Header().Set("Date", fe.world.Now().Add(tt.ahead).UTC().Format(http.TimeFormat))
				if refuse {
					w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
					w.WriteHeader(http.StatusUnauthorized)
				}
			})
			hc := &http.Client{Transport: c.Transport(fe.hits)}
			for range 50 {
				resp, err := hc.Get(api.URL + "/things")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				fe.world.Advance(time.Second)
			}
			if n := len(fe.front.refreshes()); n > 1 {
				t.Errorf("%d refreshes for 50 calls; want at most 1", n)
			}
			fe.noReuse(t)
		})
	}
}
