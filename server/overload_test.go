package server_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// TestSignInFloodBeyondHashingCapacity: with one hashing slot
// (PASSWORD_HASH_CONCURRENCY=1, so four queue places) and real argon2id
// parameters, 50 simultaneous sign-ins are more than the server can hash.
// The excess is refused at once with 503 and Retry-After instead of queueing
// without bound; nothing else fails; and refreshes, which hash nothing, are
// served all the while.
//
// Timing is asserted only loosely (a refused sign-in answers faster than the
// whole flood takes), because test machines are noisy.
func TestSignInFloodBeyondHashingCapacity(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes with production argon2id parameters")
	}
	cfg := servertest.Config(t)
	cfg.PasswordHashConcurrency = 1
	s := servertest.StartConfig(t, cfg, servertest.WithHashParams(password.Default))
	s.SignUp(t, "ann@example.com", pw)
	const refreshers = 3
	var rts []string
	for range refreshers {
		r := s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": "ann@example.com", "password": pw})
		wantStatus(t, r, 200)
		rts = append(rts, r.Map(t)["refreshToken"].(string))
	}

	var flooding atomic.Bool
	flooding.Store(true)
	var refreshed, refreshFailed atomic.Int64
	var rwg sync.WaitGroup
	for i := range refreshers {
		rt := rts[i]
		rwg.Go(func() {
			for flooding.Load() {
				r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": rt})
				if r.Status != http.StatusOK {
					refreshFailed.Add(1)
					t.Errorf("refresh during the flood: %d %s", r.Status, r.Body)
					return
				}
				if flooding.Load() {
					refreshed.Add(1)
				}
				rt = r.Map(t)["refreshToken"].(string)
			}
		})
	}

	type result struct {
		status     int
		retryAfter string
		took       time.Duration
	}
	const flood = 50
	results := make([]result, flood)
	start := make(chan struct{})
	var fwg sync.WaitGroup
	for i := range flood {
		fwg.Go(func() {
			<-start
			t0 := time.Now()
			r := s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": "ann@example.com", "password": pw})
			results[i] = result{r.Status, r.Header.Get("Retry-After"), time.Since(t0)}
		})
	}
	t0 := time.Now()
	close(start)
	fwg.Wait()
	whole := time.Since(t0)
	flooding.Store(false)
	rwg.Wait()

	counts := map[int]int{}
	var slowest503 time.Duration
	for _, r := range results {
		counts[r.status]++
		switch r.status {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			if r.retryAfter == "" {
				t.Error("503 without Retry-After")
			}
			slowest503 = max(slowest503, r.took)
		default:
			t.Errorf("status %d in the flood, want only 200 and 503", r.status)
		}
	}
	t.Logf("flood of %d: %v in %v; slowest 503 %v; %d refreshes served meanwhile", flood, counts, whole, slowest503, refreshed.Load())
	if counts[http.StatusOK] < 1 || counts[http.StatusServiceUnavailable] < 1 {
		t.Fatalf("statuses %v: want some sign-ins served and the excess refused", counts)
	}
	// One slot and four queue places: at most five can be waiting for a
	// hash at any moment, so most of the fifty must have been refused.
	if counts[http.StatusServiceUnavailable] < flood/2 {
		t.Errorf("only %d of %d refused: sign-ins are queueing", counts[http.StatusServiceUnavailable], flood)
	}
	if slowest503 >= whole {
		t.Errorf("a refusal took %v, as long as the whole flood (%v): refusals are not fast", slowest503, whole)
	}
	if refreshFailed.Load() > 0 || refreshed.Load() == 0 {
		t.Errorf("refreshes during the flood: %d served, %d failed; want some served, none failed", refreshed.Load(), refreshFailed.Load())
	}
	m := scrape(t, s)
	if got := m[`latchkey_signins_total{outcome="temporarily_unavailable"}`]; int(got) != counts[http.StatusServiceUnavailable] {
		t.Errorf("latchkey_signins_total{outcome=temporarily_unavailable} = %v, want %d", got, counts[http.StatusServiceUnavailable])
	}
	// Every refusal is counted once as a hashing refusal, whether the
	// sign-in was turned away before the user lookup or by the check itself.
	for series, want := range map[string]float64{
		"latchkey_password_hash_refused_total": float64(counts[http.StatusServiceUnavailable]),
		"latchkey_password_hash_slots":         1,
		"latchkey_password_hash_queue_size":    4,
		"latchkey_password_hash_slots_in_use":  0,
		"latchkey_password_hash_queued":        0,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
}

// TestConcurrentGuessesAreBounded: failures are counted after the password
// check, so guesses sent at the same moment all pass the per-account check
// before any is counted. The hashing bound caps that race: beyond the
// limit, at most the hashing slots and queue places (five here) get a
// password checked; the rest are refused with 429 or 503.
func TestConcurrentGuessesAreBounded(t *testing.T) {
	const limit = 3
	cfg := servertest.Config(t)
	limits(func(c *config.Config) {
		c.RateLimitSigninFailuresAccount = config.Rate{Count: limit, Per: time.Hour}
		c.PasswordHashConcurrency = 1
	})(&cfg)
	s := servertest.StartConfig(t, cfg, servertest.WithHashParams(password.Params{Memory: 4 * 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}))
	s.SignUp(t, "victim@example.com", pw)

	const guesses = 40
	statuses := make([]int, guesses)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range guesses {
		wg.Go(func() {
			<-start
			statuses[i] = signIn(t, s, "victim@example.com", "guess", "198.51.100.9").Status
		})
	}
	close(start)
	wg.Wait()
	counts := map[int]int{}
	for _, st := range statuses {
		counts[st]++
	}
	t.Logf("%d concurrent guesses against a limit of %d: %v", guesses, limit, counts)
	for st := range counts {
		if st != 401 && st != 429 && st != 503 {
			t.Errorf("status %d", st)
		}
	}
	// At most five are admitted to hashing at once; allow a second round
	// of scheduling slack before the first failures are counted.
	if bound := limit + 2*5; counts[401] > bound {
		t.Errorf("%d passwords checked, want at most %d", counts[401], bound)
	}
	wantStatus(t, signIn(t, s, "victim@example.com", pw, "198.51.100.10"), 429)
}
