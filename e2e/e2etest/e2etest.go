// Package e2etest builds the real latchkey binary and starts it, for tests
// that drive a real `latchkey serve` from outside the process: real client
// libraries in other languages, signals, restarts.
//
// Build compiles ./cmd/latchkey once per test binary. StartServer runs
// `latchkey serve` on a free port with a fresh SQLite file, waits until
// GET /healthz answers, and stops the process when the test ends. RunNode
// runs a Node.js project's tests against it (npm ci first when needed).
// StartBrowser starts headless Chromium for tests that drive a page.
//
// A package that uses Build should remove the binary when its tests end:
//
//	func TestMain(m *testing.M) { os.Exit(e2etest.Run(m)) }
package e2etest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

	"github.com/latchkey-dev/latchkey/internal/testkit"
)

// Timeouts. Every wait in this package is bounded by one of them.
const (
	BuildTimeout = 5 * time.Minute  // go build ./cmd/latchkey
	StartTimeout = 30 * time.Second // from exec to a 200 from /healthz
	StopTimeout  = 10 * time.Second // from SIGTERM to exit, then SIGKILL
)

var build struct {
	sync.Mutex
	dir, path string
	err       error
}

// Build compiles ./cmd/latchkey into a temporary directory and returns the
// binary's path. The first call builds (Go's build cache makes it quick when
// nothing changed); later calls in the same test binary return the same
// path, or fail the same way.
func Build(t testing.TB) string {
	t.Helper()
	build.Lock()
	defer build.Unlock()
	if build.path == "" && build.err == nil {
		build.path, build.err = buildBinary()
	}
	if build.err != nil {
		t.Fatalf("e2etest: build latchkey: %v", build.err)
	}
	return build.path
}

func buildBinary() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "latchkey-e2e-")
	if err != nil {
		return "", err
	}
	build.dir = dir
	path := filepath.Join(dir, "latchkey")
	if runtime.GOOS == "windows" {
		path += ".exe"
	}
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", path, "./cmd/latchkey")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/latchkey: %w\n%s", err, out)
	}
	return path, nil
}

// Run runs the tests of m and then removes the binary Build made. Call it
// from TestMain.
func Run(m *testing.M) int {
	code := m.Run()
	build.Lock()
	defer build.Unlock()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	return code
}

// ModuleRoot returns the directory of the Latchkey go.mod, found from the
// working directory upwards (a test runs in its package's directory). The
// stub modules under deploy/ and e2e/node/ are skipped.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/latchkey-dev/latchkey\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("e2etest: the Latchkey go.mod is not above the working directory")
		}
		dir = parent
	}
}

// Proc is a running `latchkey serve`.
type Proc struct {
	// URL is the server's base URL, http://127.0.0.1:port (no trailing
	// slash); it is also the tokens' issuer unless env set another.
	URL string
	// Env is the environment the process was started with.
	Env map[string]string

	cmd    *exec.Cmd
	out    *testkit.Buffer
	done   chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, set before done is closed
	killed bool          // Kill was called: a non-zero exit is expected
}

// StartServer starts `latchkey serve` and returns once GET /healthz answers
// 200. The process gets a clean environment (PATH, HOME and TMPDIR are kept)
// with these defaults, each of which env overrides:
//
//	HTTP_ADDR     127.0.0.1:<a free port>
//	DATABASE_URL  sqlite://<t.TempDir()>/latchkey.db
//	RATE_LIMITS   off (every request comes from 127.0.0.1)
//
// The process is stopped (SIGTERM, then SIGKILL after StopTimeout) when the
// test ends, and its output is logged if the test failed.
func StartServer(t testing.TB, env map[string]string) *Proc {
	t.Helper()
	return StartServers(t, env)[0]
}

// StartServers starts one `latchkey serve` per env at the same moment (their
// start-up, migrations included, races as instances of one deployment do)
// and returns once every one is healthy. Each gets its own defaults as in
// StartServer.
func StartServers(t testing.TB, envs ...map[string]string) []*Proc {
	t.Helper()
	bin := Build(t)
	procs := make([]*Proc, len(envs))
	errs := make([]error, len(envs))
	var wg sync.WaitGroup
	for i, env := range envs {
		dbDir := t.TempDir()
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A free port can be taken between choosing it and the server
			// binding it; try another one then.
			for range 3 {
				if procs[i], errs[i] = start(bin, dbDir, env); !errors.Is(errs[i], errPortTaken) {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, p := range procs {
		if p == nil {
			continue
		}
		t.Cleanup(func() {
			if err := p.Stop(); err != nil && !p.killed {
				t.Errorf("e2etest: latchkey serve did not exit cleanly: %v", err)
			}
			if t.Failed() {
				t.Logf("latchkey serve (%s) output:\n%s", p.URL, p.Logs())
			}
		})
	}
	for _, err := range errs {
		if err != nil {
			t.Fatalf("e2etest: %v", err)
		}
	}
	return procs
}

// RunCLI runs a one-shot latchkey subcommand (migrate, purge, keys rotate,
// ...) with a clean environment plus env, and returns its standard output; a
// non-zero exit fails the test.
func RunCLI(t testing.TB, env map[string]string, args ...string) string {
	t.Helper()
	bin := Build(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := map[string]string{}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "SYSTEMROOT"} {
		if v, ok := os.LookupEnv(k); ok {
			base[k] = v
		}
	}
	for k, v := range env {
		base[k] = v
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = environ(base)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("latchkey %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

var errPortTaken = errors.New("the chosen port was taken before the server bound it")

func start(bin, dbDir string, overrides map[string]string) (*Proc, error) {
	env := map[string]string{
		"DATABASE_URL": "sqlite://" + filepath.Join(dbDir, "latchkey.db"),
		"RATE_LIMITS":  "off",
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "SYSTEMROOT"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	if _, ok := overrides["HTTP_ADDR"]; !ok {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		env["HTTP_ADDR"] = fmt.Sprintf("127.0.0.1:%d", port)
	}
	for k, v := range overrides {
		env[k] = v
	}
	p := &Proc{URL: "http://" + env["HTTP_ADDR"], Env: env, out: &testkit.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve")
	p.cmd.Env = environ(env)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	if err := p.waitHealthy(); err != nil {
		p.Kill()
		if strings.Contains(p.Logs(), "address already in use") {
			return nil, errPortTaken
		}
		return nil, fmt.Errorf("%w\nlatchkey serve output:\n%s", err, p.Logs())
	}
	return p, nil
}

// waitHealthy polls GET /healthz until it answers 200, the process exits,
// or StartTimeout passes.
func (p *Proc) waitHealthy() error {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/healthz", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("latchkey serve exited before it was healthy: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("latchkey serve not healthy within %s", StartTimeout)
		case <-tick.C:
		}
	}
}

// PID is the server's process id (to signal it without waiting, as a
// rollout does).
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Logs returns everything the server has written to stdout and stderr.
func (p *Proc) Logs() string { return p.out.String() }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop asks the server to shut down gracefully (SIGTERM), kills it if it
// has not exited within StopTimeout, and returns its exit error (nil for a
// clean exit). It is safe to call more than once.
func (p *Proc) Stop() error {
	if p.Exited() {
		return p.err
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.Kill() // no SIGTERM on this platform
		return nil
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(StopTimeout):
		p.Kill()
		return fmt.Errorf("no exit within %s of SIGTERM; killed", StopTimeout)
	}
}

// Kill kills the server at once (SIGKILL) and waits for it to exit.
func (p *Proc) Kill() {
	p.killed = true
	if !p.Exited() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func environ(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}
