package e2e

// The helpers of the Shared Signals tests (ssf_*_test.go): an API process
// (examples/api, the Go receiver behind latchkey's Middleware) and a push
// endpoint process (for SIGKILL). The independent receiver is in
// ssf_wire_test.go.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
	"github.com/latchkey-dev/latchkey/internal/testkit"
)

// ssfEnv are the settings of the tests' latchkey: the shipped timings of
// the transmitter, except quicker push retries (a receiver killed on
// purpose comes back within seconds). Sign-ins cost a real argon2id each:
// the binary has no cheap hashing.
func ssfEnv(extra map[string]string) map[string]string {
	env := map[string]string{"LOG_LEVEL": "warn", "SSF_PUSH_BACKOFF": "50ms", "SSF_PUSH_BACKOFF_MAX": "250ms"}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// receiverCredential registers a receiver with the CLI, as an operator
// does, and returns its credential.
func receiverCredential(t *testing.T, p *e2etest.Proc, name string) string {
	t.Helper()
	out := e2etest.RunCLI(t, map[string]string{"DATABASE_URL": p.Env["DATABASE_URL"], "LOG_LEVEL": "error"},
		"ssf", "receiver", "create", name)
	cred := strings.TrimSpace(out)
	if !strings.HasPrefix(cred, "lkr_") {
		t.Fatalf("ssf receiver create printed %q", out)
	}
	return cred
}

var apiBuild struct {
	sync.Mutex
	path string
	err  error
}

// buildAPI compiles ./examples/api beside the latchkey binary (removed with
// it when the tests end).
func buildAPI(t *testing.T) string {
	t.Helper()
	lk := e2etest.Build(t)
	apiBuild.Lock()
	defer apiBuild.Unlock()
	if apiBuild.path == "" && apiBuild.err == nil {
		root, err := e2etest.ModuleRoot()
		if err == nil {
			path := filepath.Join(filepath.Dir(lk), "api")
			cmd := exec.Command("go", "build", "-o", path, "./examples/api")
			cmd.Dir = root
			if out, err2 := cmd.CombinedOutput(); err2 != nil {
				err = fmt.Errorf("go build ./examples/api: %w\n%s", err2, out)
			} else {
				apiBuild.path = path
			}
		}
		apiBuild.err = err
	}
	if apiBuild.err != nil {
		t.Fatal(apiBuild.err)
	}
	return apiBuild.path
}

// apiProc is a running examples/api.
type apiProc struct {
	url  string
	args []string
	env  []string
	cmd  *exec.Cmd
	out  *testkit.Buffer
	done chan struct{}
}

// startAPI starts the example API against issuer with a receiver credential
// (polling, or push with push set) on a free loopback port, and waits until
// its receiver has caught up (GET /healthz 200).
func startAPI(t *testing.T, issuer, cred string, push bool) *apiProc {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-addr", fmt.Sprintf("127.0.0.1:%d", port), "-name", "e2e-api"}
	if push {
		args = append(args, "-push")
	}
	a := &apiProc{url: fmt.Sprintf("http://127.0.0.1:%d", port), args: args,
		env: []string{"LATCHKEY_ISSUER=" + issuer, "LATCHKEY_RECEIVER_CREDENTIAL=" + cred, "PATH=" + os.Getenv("PATH")}}
	a.start(t)
	return a
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start runs the process (again) and waits until it is ready.
func (a *apiProc) start(t *testing.T) {
	t.Helper()
	a.out, a.done = &testkit.Buffer{}, make(chan struct{})
	a.cmd = exec.Command(buildAPI(t), a.args...)
	a.cmd.Env = a.env
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := a.done
	go func() { a.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		a.kill()
		if t.Failed() {
			t.Logf("api output:\n%s", a.out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, err := http.Get(a.url + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			t.Fatalf("the API exited before it was ready:\n%s", a.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API was not ready within 30s:\n%s", a.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to exit.
func (a *apiProc) kill() {
	if a.cmd.Process != nil {
		a.cmd.Process.Kill()
	}
	<-a.done
}

// me calls GET /api/me with an access token and returns the status and the
// error_reason of a refusal.
func (a *apiProc) me(t *testing.T, token string) (int, string) {
	t.Helper()
	r, err := call(&http.Client{Timeout: 5 * time.Second}, "GET", a.url+"/api/me", nil, token)
	if err != nil {
		t.Fatal(err)
	}
	return r.status, r.str("error_reason")
}

// refusedWithin returns how long after start the API first refused token
// as session_revoked (polling every 10 ms), failing after 10 s.
func (a *apiProc) refusedAfter(t *testing.T, token string, start time.Time) time.Duration {
	t.Helper()
	for {
		status, reason := a.me(t, token)
		if status == http.StatusUnauthorized {
			if reason != "session_revoked" {
				t.Fatalf("refused with error_reason %q, want session_revoked", reason)
			}
			return time.Since(start)
		}
		if status != http.StatusOK {
			t.Fatalf("GET /api/me = %d", status)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the API still accepts the revoked session's token after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// median returns the median of ds.
func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Push endpoint process. TestMain runs pushEndpointMain instead of the
// tests when LATCHKEY_E2E_PUSH_ENDPOINT names an address: the test binary
// itself is the receiver process the crash test kills.

const pushSecret = "Bearer e2e-push-secret"

// pushEndpointMain serves POST /events on addr and appends every SET pushed
// with the right authorization to the file named by
// LATCHKEY_E2E_PUSH_LOG, one per line, before answering 202 (RFC 8935).
func pushEndpointMain(addr string) int {
	f, err := os.OpenFile(os.Getenv("LATCHKEY_E2E_PUSH_LOG"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex
	err = http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != pushSecret {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		_, err = f.Write(append(bytes.TrimSpace(b), '\n'))
		mu.Unlock()
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// pushProc is a running push endpoint process.
type pushProc struct {
	addr, log string
	cmd       *exec.Cmd
	done      chan struct{}
}

func startPushEndpoint(t *testing.T, addr, log string) *pushProc {
	t.Helper()
	p := &pushProc{addr: addr, log: log, done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0])
	p.cmd.Env = append(os.Environ(), "LATCHKEY_E2E_PUSH_ENDPOINT="+addr, "LATCHKEY_E2E_PUSH_LOG="+log)
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatal("the push endpoint did not listen within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *pushProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// sets returns the SETs the endpoint has recorded.
func (p *pushProc) sets(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(p.log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	return out
}
