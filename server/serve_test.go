package server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/server"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// openApp opens an App over a fresh SQLite file, as latchkey serve does.
func openApp(t *testing.T, mod func(*config.Config)) *server.App {
	t.Helper()
	cfg := servertest.Config(t)
	mod(&cfg)
	ctx := context.Background()
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	cheap := password.Cheap
	app, err := server.Open(ctx, cfg, st, server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HashParams: &cheap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return app
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// get returns the status, the body and whether the server closes the
// connection after the answer (Connection: close).
func get(t *testing.T, url string) (int, string, bool) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Close
}

// serve runs ServeListener until the returned stop is called; it returns
// the API base URL and a channel with ServeListener's result.
func serve(t *testing.T, app *server.App) (string, context.CancelFunc, chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.ServeListener(ctx, app, ln) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("ServeListener did not return")
		}
	})
	return "http://" + ln.Addr().String(), stop, done
}

// With METRICS_ADDR set, /metrics is served there only: the API listener
// answers 404, and the metrics listener serves nothing else.
func TestMetricsAddr(t *testing.T) {
	maddr := freeAddr(t)
	app := openApp(t, func(c *config.Config) { c.MetricsAddr = maddr })
	base, _, _ := serve(t, app)
	waitUp(t, base+"/healthz")
	if code, body, _ := get(t, base+"/metrics"); code != http.StatusNotFound || !strings.Contains(body, "not_found") {
		t.Errorf("API listener /metrics: %d %s; want 404", code, body)
	}
	code, body, _ := get(t, "http://"+maddr+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, "latchkey_") {
		t.Errorf("METRICS_ADDR /metrics: %d %.200s", code, body)
	}
	for _, p := range []string{"/healthz", "/.well-known/jwks.json", "/"} {
		if code, _, _ := get(t, "http://"+maddr+p); code != http.StatusNotFound {
			t.Errorf("METRICS_ADDR %s: %d; want 404 (metrics only)", p, code)
		}
	}

	// Unset, /metrics stays on the API listener.
	plain := openApp(t, func(*config.Config) {})
	pbase, _, _ := serve(t, plain)
	waitUp(t, pbase+"/healthz")
	if code, body, _ := get(t, pbase+"/metrics"); code != http.StatusOK || !strings.Contains(body, "latchkey_") {
		t.Errorf("no METRICS_ADDR: /metrics %d", code)
	}
}

// A METRICS_ADDR that cannot be bound fails the start, naming the setting.
func TestMetricsAddrInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	app := openApp(t, func(c *config.Config) { c.MetricsAddr = taken.Addr().String() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := server.ServeListener(context.Background(), app, ln); err == nil || !strings.HasPrefix(err.Error(), "METRICS_ADDR:") {
		t.Fatalf("ServeListener: %v; want a METRICS_ADDR error", err)
	}
}

// When asked to stop, the server fails readiness at once and keeps serving
// for SHUTDOWN_DRAIN_DELAY, closing each connection after its answer; then it
// stops listening and returns nil.
func TestDrainOnStop(t *testing.T) {
	const delay = 1500 * time.Millisecond
	app := openApp(t, func(c *config.Config) { c.ShutdownDrainDelay = config.Duration(delay) })
	base, stop, done := serve(t, app)
	waitUp(t, base+"/healthz")
	if code, _, closes := get(t, base+"/readyz"); code != http.StatusOK || closes {
		t.Fatalf("before stop: /readyz %d, connection closed %v", code, closes)
	}
	stopped := time.Now()
	stop()
	// Readiness fails from the first request after the stop.
	code, body, _ := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"stopping"`) {
		t.Fatalf("draining /readyz: %d %s; want 503 stopping", code, body)
	}
	// Everything else is still served, on connections that close after.
	for range 5 {
		code, _, closes := get(t, base+"/.well-known/jwks.json")
		if code != http.StatusOK || !closes {
			t.Fatalf("draining JWKS: %d, connection closed %v; want 200 and Connection: close", code, closes)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServeListener: %v", err)
		}
		if since := time.Since(stopped); since < delay {
			t.Fatalf("stopped listening %s after the stop, before the drain delay %s", since, delay)
		}
		done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("ServeListener did not return after the drain")
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		t.Fatal("still listening after the drain")
	}
}

func waitUp(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not up: %v", url, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client that never finishes its request (a slow upload, or an attacker
// holding a body open) must not turn a stop into a failure: when
// SHUTDOWN_TIMEOUT passes with it still in flight, the server closes its
// connection, says so naming the setting, and returns nil, so that the
// process exits 0 as on any other stop.
func TestShutdownTimeoutWithSlowClient(t *testing.T) {
	logs := &testkit.Buffer{}
	app := openApp(t, func(c *config.Config) { c.ShutdownTimeout = config.Duration(300 * time.Millisecond) })
	app.Logger = slog.New(slog.NewTextHandler(logs, nil))
	base, stop, done := serve(t, app)
	waitUp(t, base+"/healthz")
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The headers, asking to continue: the server's "100 Continue" says the
	// handler has started reading the body. Then part of the body, and no
	// more: the request stays in flight.
	if _, err := io.WriteString(conn, "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 100 ") {
		t.Fatalf("want 100 Continue, got %q %v", status, err)
	}
	if _, err := io.WriteString(conn, `{"refre`); err != nil {
		t.Fatal(err)
	}
	stop()
	select {
	case err := <-done:
		done <- nil // for the cleanup
		if err != nil {
			t.Errorf("ServeListener after SHUTDOWN_TIMEOUT with a slow client: %v; want nil (exit 0)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeListener did not return after SHUTDOWN_TIMEOUT")
	}
	if !strings.Contains(logs.String(), "SHUTDOWN_TIMEOUT") {
		t.Errorf("no log line names SHUTDOWN_TIMEOUT:\n%s", logs.String())
	}
	// The slow client's connection is closed by the server, not left to the
	// process's exit (or the store closing under its handler).
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Error("the slow client's connection is still open after ServeListener returned")
		}
	}
}
