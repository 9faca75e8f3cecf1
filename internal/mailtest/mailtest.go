// Package mailtest runs a real SMTP server for tests: Mailpit
// (github.com/axllent/mailpit), built with `go install` into a cache
// directory outside the module (it is not a dependency of Latchkey),
// started on loopback ports, and read through its HTTP API.
//
// The binary is found, in order, at $LATCHKEY_TEST_MAILPIT (CI installs it
// there, .ci/mailpit.sh), or in the user's cache directory
// (…/latchkey-test/mailpit-<version>/mailpit), where the first test run
// builds it. When it can neither be found nor built, tests skip with one
// line, except under CI=true, where they fail.
package mailtest

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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/internal/testkit"
)

// Version is the Mailpit release the tests run (the module proxy serves it;
// it builds with this repository's Go).
const Version = "v1.33.1"

// EnvBinary names a prebuilt Mailpit binary.
const EnvBinary = "LATCHKEY_TEST_MAILPIT"

// Timeouts bounding every wait here.
const (
	BuildTimeout = 10 * time.Minute // go install on a loaded, shared machine
	StartTimeout = 20 * time.Second
)

var built struct {
	sync.Mutex
	path string
	err  error
}

// Binary returns the Mailpit binary's path, building it on first use; it
// skips t (fails it when CI=true) when there is none.
func Binary(t testing.TB) string {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if built.path == "" && built.err == nil {
		built.path, built.err = find()
	}
	if built.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mailtest: no Mailpit %s, and CI=true forbids skipping: %v", Version, built.err)
		}
		t.Skipf("mailtest: skipping, no real SMTP server (Mailpit %s cannot be built here: %v)", Version, firstLine(built.err))
	}
	return built.path
}

func find() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBinary, p, err)
		}
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "latchkey-test", "mailpit-"+Version)
	path := filepath.Join(dir, "mailpit")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Test binaries of several packages may build at once: one builds, the
	// others wait on the lock and then find the binary.
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/axllent/mailpit@"+Version)
	cmd.Dir = dir // outside the module: nothing of Latchkey's go.mod changes
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-buildvcs=false", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install github.com/axllent/mailpit@%s: %w: %s", Version, err, bytes.TrimSpace(out))
	}
	return path, nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// Options are Mailpit's settings for one server.
type Options struct {
	// CertFile and KeyFile, when set, make the server offer STARTTLS with
	// that certificate; with ImplicitTLS it speaks TLS from the first byte
	// (smtps) instead.
	CertFile, KeyFile string
	ImplicitTLS       bool
	// AuthFile is an htpasswd file: when set, the server requires AUTH.
	AuthFile string
	// Chaos enables the chaos API (SetChaos): injected SMTP errors.
	Chaos bool
}

// Server is a running Mailpit.
type Server struct {
	// SMTPAddr is the SMTP listener (127.0.0.1:port), APIURL the HTTP API's
	// base URL.
	SMTPAddr string
	APIURL   string

	t    testing.TB
	bin  string
	opts Options
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	out  *testkit.Buffer
}

// Start builds (once) and starts Mailpit on free loopback ports; it is
// stopped when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), opts: o, dir: t.TempDir(), out: &testkit.Buffer{}}
	s.SMTPAddr, s.APIURL = freeAddr(t), "http://"+freeAddr(t)
	s.start(t)
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("mailpit output:\n%s", s.out.String())
		}
	})
	return s
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	args := []string{"--smtp", s.SMTPAddr, "--listen", strings.TrimPrefix(s.APIURL, "http://"),
		"--database", filepath.Join(s.dir, "mailpit.db"), "--disable-version-check", "--smtp-disable-rdns"}
	if s.opts.CertFile != "" {
		args = append(args, "--smtp-tls-cert", s.opts.CertFile, "--smtp-tls-key", s.opts.KeyFile)
		if s.opts.ImplicitTLS {
			args = append(args, "--smtp-require-tls")
		} else {
			args = append(args, "--smtp-require-starttls")
		}
	}
	if s.opts.AuthFile != "" {
		args = append(args, "--smtp-auth-file", s.opts.AuthFile)
	}
	if s.opts.Chaos {
		args = append(args, "--enable-chaos")
	}
	s.cmd = exec.Command(s.bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("mailtest: start mailpit: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	deadline := time.Now().Add(StartTimeout)
	for {
		if s.ready() {
			return
		}
		select {
		case <-s.done:
			t.Fatalf("mailtest: mailpit exited at start:\n%s", s.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailtest: mailpit not ready after %s:\n%s", StartTimeout, s.out.String())
		}
	}
}

// ready reports whether both the API and the SMTP port answer.
func (s *Server) ready() bool {
	resp, err := http.Get(s.APIURL + "/livez")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	c, err := net.DialTimeout("tcp", s.SMTPAddr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Stop kills the server (an outage, as the sender sees it). The messages it
// received are kept in its database for Restart.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts the server again on the same ports.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.start(t)
}

// Summary is a received message as the list shows it.
type Summary struct {
	ID      string
	From    Address
	To      []Address
	Subject string
}

// Address is a mailbox.
type Address struct{ Name, Address string }

// Detail is a received message, parsed by Mailpit.
type Detail struct {
	ID      string
	From    Address
	To      []Address
	Subject string
	Text    string
	HTML    string
}

// Messages returns every message received, newest first.
func (s *Server) Messages(t testing.TB) []Summary {
	t.Helper()
	var out struct{ Messages []Summary }
	s.get(t, "/api/v1/messages?limit=1000", &out)
	return out.Messages
}

// Message returns one message, parsed.
func (s *Server) Message(t testing.TB, id string) Detail {
	t.Helper()
	var d Detail
	s.get(t, "/api/v1/message/"+id, &d)
	return d
}

// Raw returns one message's source as received.
func (s *Server) Raw(t testing.TB, id string) []byte {
	t.Helper()
	resp, err := http.Get(s.APIURL + "/api/v1/message/" + id + "/raw")
	if err != nil {
		t.Fatalf("mailtest: raw %s: %v", id, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("mailtest: raw %s: %d %v", id, resp.StatusCode, err)
	}
	return b
}

// WaitMessages polls until at least n messages have arrived (or deadline
// passes, failing t) and returns them, newest first.
func (s *Server) WaitMessages(t testing.TB, n int, deadline time.Duration) []Summary {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		ms := s.Messages(t)
		if len(ms) >= n {
			return ms
		}
		if time.Now().After(end) {
			t.Fatalf("mailtest: %d messages after %s, want %d", len(ms), deadline, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SetChaos makes the server answer RCPT TO with code, with the given
// probability in percent (0 switches it off). Needs Options.Chaos.
func (s *Server) SetChaos(t testing.TB, code, probability int) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"Recipient": map[string]int{"ErrorCode": code, "Probability": probability}})
	req, _ := http.NewRequest(http.MethodPut, s.APIURL+"/api/v1/chaos", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("mailtest: set chaos: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailtest: set chaos: %s", resp.Status)
	}
}

func (s *Server) get(t testing.TB, path string, out any) {
	t.Helper()
	resp, err := http.Get(s.APIURL + path)
	if err != nil {
		t.Fatalf("mailtest: GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("mailtest: GET %s: %s %s", path, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("mailtest: GET %s: %v", path, err)
	}
}
