package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

// A rolling update without dropped requests: a real `latchkey serve` under a
// bounded load (refreshes, JWKS reads and sign-ins from 8 clients on
// keep-alive connections) gets SIGTERM. Readiness fails at once; a stand-in
// for the load balancer polls /readyz as a probe does and stops routing to
// the instance a while after it sees the 503 (endpoint propagation), which
// is within SHUTDOWN_DRAIN_DELAY. Every request routed to the instance, the
// ones in flight at the signal and the ones sent during the drain, must
// succeed, and the process must exit 0.
func TestRollingStopDropsNothing(t *testing.T) {
	const (
		drain       = 3 * time.Second
		propagation = time.Second // from the failing probe to the instance leaving the endpoints
		workers     = 8
	)
	p := e2etest.StartServer(t, map[string]string{"SHUTDOWN_DRAIN_DELAY": drain.String(), "LOG_LEVEL": "warn"})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	post := func(path string, body any) (map[string]string, error) {
		b, _ := json.Marshal(body)
		resp, err := client.Post(p.URL+path, "application/json", bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
			return nil, fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, rb)
		}
		var out map[string]string
		json.Unmarshal(rb, &out)
		return out, nil
	}
	refresh := make([]string, workers)
	for i := range workers {
		creds := map[string]string{"email": fmt.Sprintf("w%d@example.com", i), "password": "correct horse battery"}
		if _, err := post("/auth/sign-up", creds); err != nil {
			t.Fatal(err)
		}
		tk, err := post("/auth/sign-in", creds)
		if err != nil {
			t.Fatal(err)
		}
		refresh[i] = tk["refreshToken"]
	}

	var routing atomic.Bool // the load balancer still sends requests here
	routing.Store(true)
	var (
		mu                sync.Mutex
		failures          []string
		sent, duringDrain atomic.Int64
		draining          atomic.Bool
		wg                sync.WaitGroup
	)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; routing.Load(); n++ {
				inDrain := draining.Load()
				var err error
				switch {
				case i == 0 && n%2 == 0: // sign-ins: argon2id, tens of ms each, likely in flight at any moment
					_, err = post("/auth/sign-in", map[string]string{"email": "w0@example.com", "password": "correct horse battery"})
				case n%3 == 0:
					var resp *http.Response
					if resp, err = client.Get(p.URL + "/.well-known/jwks.json"); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							err = fmt.Errorf("JWKS: %d", resp.StatusCode)
						}
					}
				default:
					var tk map[string]string
					if tk, err = post("/token", map[string]string{"refreshToken": refresh[i]}); err == nil {
						refresh[i] = tk["refreshToken"]
					}
				}
				sent.Add(1)
				if inDrain {
					duringDrain.Add(1)
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("worker %d (draining %v): %v", i, inDrain, err))
					mu.Unlock()
				}
			}
		}()
	}

	// Let the load run, then stop the instance as a rollout does.
	for sent.Load() < 200 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(p.PID(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	draining.Store(true)
	// The readiness probe: /readyz must fail at once.
	probe := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(drain / 2)
	for {
		resp, err := probe.Get(p.URL + "/readyz")
		if err != nil {
			t.Fatalf("readiness probe during the drain: %v (the server stopped listening)", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d well after SIGTERM", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Endpoint propagation: requests keep arriving for a while.
	time.Sleep(propagation)
	routing.Store(false)
	wg.Wait()

	deadline = time.Now().Add(drain + 15*time.Second)
	for !p.Exited() {
		if time.Now().After(deadline) {
			t.Fatal("latchkey serve did not exit after the drain")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("exit: %v (want 0)\n%s", err, p.Logs())
	}
	t.Logf("%d requests, %d of them sent after SIGTERM, %d failed", sent.Load(), duringDrain.Load(), len(failures))
	if len(failures) > 0 {
		t.Fatalf("%d requests failed, first: %s", len(failures), failures[0])
	}
	if duringDrain.Load() < workers {
		t.Fatalf("only %d requests during the drain: the load did not reach it", duringDrain.Load())
	}
}
