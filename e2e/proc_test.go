package e2e

// This file builds the real latchkey binary and runs it: `serve` as a child
// process on a free loopback port, and the one-shot subcommands (purge, keys
// rotate). Its names are unexported and local to this package's tests; it is
// meant to be folded into e2e/e2etest.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildLatchkey runs `go build ./cmd/latchkey` into a temporary directory and
// returns the binary's path. The build cache makes every build after the
// first one a link.
func buildLatchkey(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "latchkey")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/latchkey")
	cmd.Dir = moduleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/latchkey: %v\n%s", err, out)
	}
	return bin
}

// moduleRoot is the directory of go.mod above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the e2e package")
	}
	return filepath.Dir(filepath.Dir(file))
}

// childEnv is the environment of a latchkey child: only PATH and the
// settings given, so nothing from the test's own environment (a DATABASE_URL,
// say) changes what runs.
func childEnv(settings map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range settings {
		env = append(env, k+"="+v)
	}
	return env
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer collects a child's output; safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// instance is a running `latchkey serve`.
type instance struct {
	name string
	url  string // http://127.0.0.1:port
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, once done is closed
}

// startInstance starts `latchkey serve` with settings (HTTP_ADDR is added)
// and does not wait for it: see waitReady. The process is stopped with
// SIGTERM (SIGKILL after 10s) when the test ends, and its log is shown if
// the test failed.
func startInstance(t *testing.T, bin, name string, settings map[string]string) *instance {
	t.Helper()
	addr := freeAddr(t)
	env := map[string]string{"HTTP_ADDR": addr}
	for k, v := range settings {
		env[k] = v
	}
	in := &instance{name: name, url: "http://" + addr, logs: &syncBuffer{}, done: make(chan struct{})}
	in.cmd = exec.Command(bin, "serve")
	in.cmd.Env = childEnv(env)
	in.cmd.Stdout, in.cmd.Stderr = in.logs, in.logs
	if err := in.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { in.err = in.cmd.Wait(); close(in.done) }()
	t.Cleanup(func() {
		in.stop()
		if t.Failed() {
			t.Logf("log of instance %s (pid %d):\n%s", name, in.cmd.Process.Pid, in.logs.String())
		}
	})
	return in
}

// stop ends the process gracefully (SIGTERM), or by force after 10s.
func (in *instance) stop() {
	select {
	case <-in.done:
		return
	default:
	}
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(10 * time.Second):
		_ = in.cmd.Process.Kill()
		<-in.done
	}
}

// kill ends the process at once (SIGKILL by pid: no shutdown, connections
// cut mid-request) and waits until it is gone.
func (in *instance) kill(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(in.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", in.name, err)
	}
	<-in.done
}

// waitReady polls GET /readyz (bounded) until the instance answers 200.
func (in *instance) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-in.done:
			t.Fatalf("instance %s exited before it was ready: %v\n%s", in.name, in.err, in.logs.String())
		default:
		}
		resp, err := client.Get(in.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s not ready after 30s (last: %v)\n%s", in.name, err, in.logs.String())
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// runLatchkey runs a one-shot subcommand with settings and returns its
// standard output; a non-zero exit fails the test.
func runLatchkey(t *testing.T, bin string, settings map[string]string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv(settings)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("latchkey %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// reply is a decoded JSON response.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// str returns the string field k of the body ("" if absent).
func (r *reply) str(k string) string { s, _ := r.body[k].(string); return s }

// call sends a JSON request with an optional bearer token through client
// and decodes the answer. A transport error is returned, not fatal: the
// kill test expects some.
func call(client *http.Client, method, url string, body any, bearer string) (*reply, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			return nil, fmt.Errorf("decode %s: %w", raw, err)
		}
	}
	return r, nil
}

// mustCall is call for steps that must get an answer with status want.
func mustCall(t *testing.T, client *http.Client, method, url string, body any, bearer string, want int) *reply {
	t.Helper()
	r, err := call(client, method, url, body, bearer)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if r.status != want {
		t.Fatalf("%s %s: %d %s; want %d", method, url, r.status, r.raw, want)
	}
	return r
}
