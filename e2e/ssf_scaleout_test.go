package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
	"github.com/latchkey-dev/latchkey/token"
)

// pushCounter is a push endpoint in the test process that verifies every
// SET with the independent receiver and counts deliveries by session.
type pushCounter struct {
	mu     sync.Mutex
	w      *wire // set once the stream exists
	base   string
	bySID  map[string]int
	pushes atomic.Int64
	errs   []string
	srv    *httptest.Server
}

func newPushCounter(t *testing.T) *pushCounter {
	pc := &pushCounter{bySID: map[string]int{}}
	pc.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		pc.pushes.Add(1)
		pc.mu.Lock()
		defer pc.mu.Unlock()
		if r.Header.Get("Authorization") != pushSecret || pc.w == nil {
			rw.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		c, err := pc.w.check(pc.base, string(b))
		if err != nil {
			pc.errs = append(pc.errs, err.Error())
			rw.WriteHeader(http.StatusBadRequest)
			return
		}
		if sid, _ := sessionOfSET(c); sid != "" {
			pc.bySID[sid]++
		}
		rw.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(pc.srv.Close)
	return pc
}

func (pc *pushCounter) count(sid string) int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.bySID[sid]
}

func (pc *pushCounter) distinct() int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return len(pc.bySID)
}

// instanceOf returns the transmitter instance id a latchkey logged at start.
func instanceOf(t *testing.T, p *e2etest.Proc) string {
	t.Helper()
	m := regexp.MustCompile(`"msg":"ssf: transmitter started","instance":"([0-9a-f]+)"`).FindStringSubmatch(p.Logs())
	if m == nil {
		t.Fatalf("no transmitter start in the logs of %s", p.URL)
	}
	return m[1]
}

// TestSSFScaleOut: two instances of the real binary on one PostgreSQL
// database. A revocation on A is pushed once, by whichever instance holds
// the stream's lease, and the poller finds it asking B. 10,000 revocations
// in a burst, spread over both instances by 32 clients, are all delivered
// to both streams, every SET verified by the independent receiver. Then the
// instance holding the push lease is killed: the other takes the stream
// over and delivers what follows.
func TestSSFScaleOut(t *testing.T) {
	const burst = 10_000
	dbURL := pgtest.FreshDatabase(t)
	secret := strings.Repeat("s", 40)
	settings := scaleOutSettings(dbURL, "0s")
	issuer := settings["PUBLIC_URL"]
	for k, v := range map[string]string{"REFRESH_TOKEN_SECRET": secret, "LOG_LEVEL": "info", "SSF_PUSH_LEASE": "2s",
		"SSF_PUSH_BACKOFF": "50ms", "SSF_PUSH_BACKOFF_MAX": "250ms", "DATABASE_MAX_CONNS": "20"} {
		settings[k] = v
	}
	a, b := startPair(t, settings)
	c := &http.Client{Timeout: 30 * time.Second}

	pc := newPushCounter(t)
	pushed := newWire(t, a.URL, issuer, receiverCredential(t, a, "pushed"),
		map[string]any{"method": "urn:ietf:rfc:8935", "endpoint_url": pc.srv.URL + "/events", "authorization_header": pushSecret})
	pc.mu.Lock()
	pc.w, pc.base = pushed, a.URL
	pc.mu.Unlock()
	polled := newWire(t, b.URL, issuer, receiverCredential(t, b, "polled"), nil)
	seen := map[string]int{}
	drain := func(base string) {
		for more := true; more; {
			var sids []string
			sids, more = polled.poll(base, 1000)
			for _, s := range sids {
				seen[s]++
			}
		}
	}

	t.Run("one revocation", func(t *testing.T) {
		at, _ := signIn(t, c, a, "one@example.com")
		mustCall(t, c, "POST", a.URL+"/auth/sign-out", map[string]string{"scope": "local"}, at, http.StatusNoContent)
		sid := sidOf(at)
		waitFor(t, "the push of the revocation", func() bool { return pc.count(sid) > 0 })
		drain(b.URL)
		if seen[sid] != 1 {
			t.Errorf("polling B delivered the revocation on A %d times, want 1", seen[sid])
		}
		// Anything pushed twice would have arrived by now: the push had
		// been acknowledged before the next event could be pushed.
		at2, _ := signIn(t, c, b, "two@example.com")
		mustCall(t, c, "POST", b.URL+"/auth/sign-out", map[string]string{"scope": "local"}, at2, http.StatusNoContent)
		waitFor(t, "the push of the second revocation", func() bool { return pc.count(sidOf(at2)) > 0 })
		if n := pc.count(sid); n != 1 {
			t.Errorf("the revocation was pushed %d times, want once", n)
		}
	})

	t.Run("burst", func(t *testing.T) {
		ctx := context.Background()
		db, err := postgres.Open(ctx, dbURL, postgres.Options{MaxConns: 16})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		iss, err := token.NewIssuer(token.Options{Issuer: issuer, RefreshSecret: []byte(secret)})
		if err != nil {
			t.Fatal(err)
		}
		// 10,000 sessions of 100 users, written straight into the
		// database (10,000 real sign-ins would be 10,000 argon2id hashes),
		// each with a refresh token minted under the instances' secret.
		now := time.Now().UTC()
		tokens := make([]string, burst)
		sids := make([]string, burst)
		var wg sync.WaitGroup
		var failed atomic.Value
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < burst; i += 16 {
					user := fmt.Sprintf("burst-user-%03d", i%100)
					s := store.Session{ID: uuid.NewString(), UserID: user, Generation: 1, CreatedAt: now, LastRefreshedAt: now,
						RefreshExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour)}
					if _, err := db.CreateSession(ctx, s, 0); err != nil {
						failed.Store(err)
						return
					}
					rt, _, err := iss.MintRefresh(token.RefreshClaims{Subject: user, SessionID: s.ID, Generation: 1, ExpiresAt: s.RefreshExpiresAt})
					if err != nil {
						failed.Store(err)
						return
					}
					tokens[i], sids[i] = rt, s.ID
				}
			}()
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var next atomic.Int64
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < burst; i = int(next.Add(1)) - 1 {
					base := []string{a.URL, b.URL}[i%2]
					req, _ := http.NewRequest("POST", base+"/oauth/revoke", strings.NewReader(url.Values{"token": {tokens[i]}}.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					resp, err := c.Do(req)
					if err != nil {
						failed.Store(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						failed.Store(fmt.Errorf("revoke on %s: %d", base, resp.StatusCode))
						return
					}
				}
			}()
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			t.Fatal(err)
		}
		revoked := time.Since(start)
		for i, base := 0, a.URL; ; i++ {
			drain(base) // alternately through A and B
			if base == a.URL {
				base = b.URL
			} else {
				base = a.URL
			}
			missing := 0
			for _, s := range sids {
				if seen[s] == 0 {
					missing++
				}
			}
			if missing == 0 {
				break
			}
			if time.Since(start) > 3*time.Minute {
				t.Fatalf("polling: %d of %d revocations never delivered", missing, burst)
			}
			time.Sleep(50 * time.Millisecond)
		}
		polledIn := time.Since(start)
		waitForWithin(t, "every revocation pushed", 3*time.Minute, func() bool {
			for _, s := range sids {
				if pc.count(s) == 0 {
					return false
				}
			}
			return true
		})
		dup := 0
		for _, s := range sids {
			dup += pc.count(s) - 1
		}
		pc.mu.Lock()
		if len(pc.errs) > 0 {
			t.Errorf("%d pushed SETs failed verification, the first: %s", len(pc.errs), pc.errs[0])
		}
		pc.mu.Unlock()
		t.Logf("%d revocations on two instances in %v; all delivered by polling after %v and by push after %v (%d duplicate pushes, %d pushes in all)",
			burst, revoked.Round(time.Millisecond), polledIn.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), dup, pc.pushes.Load())
	})

	t.Run("holder killed", func(t *testing.T) {
		conn, err := postgres.Open(context.Background(), dbURL, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var holder string
		waitFor(t, "a lease on the push stream", func() bool {
			ss, err := conn.Streams(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range ss {
				if s.Push && s.LeaseOwner != "" && time.Now().Before(s.LeaseUntil) {
					holder = s.LeaseOwner
					return true
				}
			}
			return false
		})
		dead, alive := a, b
		if instanceOf(t, b) == holder {
			dead, alive = b, a
		} else if instanceOf(t, a) != holder {
			t.Fatalf("the lease holder %s is neither instance", holder)
		}
		dead.Kill()
		at, _ := signIn(t, c, alive, "after@example.com")
		mustCall(t, c, "POST", alive.URL+"/auth/sign-out", map[string]string{"scope": "local"}, at, http.StatusNoContent)
		start := time.Now()
		waitFor(t, "the push by the surviving instance", func() bool { return pc.count(sidOf(at)) > 0 })
		t.Logf("the surviving instance pushed %v after the revocation (lease 2s)", time.Since(start).Round(time.Millisecond))
	})
}

// waitFor polls cond until it holds (at most 30s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForWithin(t, what, 30*time.Second, cond)
}

func waitForWithin(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
