package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/metrics"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/store/sqlite"
)

// TestClientDisconnectIs499: a client that closes its connection while its
// refresh is under way (here the claims hook, which the refresh waits for,
// is still working) is not a failure of the server. The request is logged
// with status 499 at INFO, never as an internal_error at ERROR, and counted
// under code 499 and refresh outcome client_closed_request, outside the
// 5xx and the internal errors that page someone. Before, the canceled
// context came back as a plain error and was answered, logged and counted
// as a 500.
func TestClientDisconnectIs499(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	logs := &testkit.Buffer{}
	m := metrics.New()
	var hold atomic.Bool
	started := make(chan struct{}, 1)
	lk, err := latchkey.New(ctx, latchkey.Options{
		Store: st, Issuer: "http://latchkey.test", RefreshSecret: bytes.Repeat([]byte("s"), 32),
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Hasher: password.New(password.Cheap, 1, 4),
		Observer: m, Instrument: m.Middleware,
		Claims: func(ctx context.Context, userID string, _ *auth.User) (map[string]any, error) {
			if hold.Load() {
				started <- struct{}{}
				<-ctx.Done() // still working when the client leaves
				return nil, ctx.Err()
			}
			return nil, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(lk)
	t.Cleanup(srv.Close)
	post := func(ctx context.Context, path string, body any) (*http.Response, error) {
		raw, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, "POST", srv.URL+path, bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		return srv.Client().Do(req)
	}
	cred := map[string]string{"email": "ann@example.com", "password": pw}
	for _, path := range []string{"/auth/sign-up", "/auth/sign-in"} {
		resp, err := post(ctx, path, cred)
		if err != nil || resp.StatusCode >= 300 {
			t.Fatalf("%s: %v %v", path, resp, err)
		}
		if path == "/auth/sign-in" {
			var tk struct{ RefreshToken string }
			json.NewDecoder(resp.Body).Decode(&tk)
			cred = map[string]string{"refreshToken": tk.RefreshToken}
		}
		resp.Body.Close()
	}

	hold.Store(true)
	cctx, cancel := context.WithCancel(ctx)
	gone := make(chan error, 1)
	go func() {
		resp, err := post(cctx, "/token", cred)
		if err == nil {
			resp.Body.Close()
		}
		gone <- err
	}()
	<-started
	cancel()
	if err := <-gone; err == nil {
		t.Fatal("the request was answered although its client had left")
	}
	var line map[string]any
	for deadline := time.Now().Add(10 * time.Second); line == nil; {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `"msg":"http request"`) && strings.Contains(l, `"path":"/token"`) {
				json.Unmarshal([]byte(l), &line)
			}
		}
		if line == nil && time.Now().After(deadline) {
			t.Fatalf("no access-log line for the abandoned refresh:\n%s", logs.String())
		}
		time.Sleep(time.Millisecond) // polling for the server to finish the request
	}
	if line["status"] != float64(httpapiStatusClientClosed) || line["level"] != "INFO" {
		t.Errorf("access log of the abandoned refresh: %v; want status 499 at INFO", line)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) || strings.Contains(logs.String(), "internal_error") {
		t.Errorf("an abandoned request logged as an error:\n%s", logs.String())
	}
	got := scrapeHandler(t, m.Handler())
	for series, want := range map[string]float64{
		`latchkey_http_requests_total{code="499",route="POST /token"}`:                  1,
		`latchkey_refreshes_total{outcome="client_closed_request"}`:                     1,
		`latchkey_refreshes_total{outcome="internal_error"}`:                            0,
		`latchkey_http_request_duration_seconds_count{class="4xx",route="POST /token"}`: 1,
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v", series, got[series], want)
		}
	}
	if v, ok := got[`latchkey_http_requests_total{code="500",route="POST /token"}`]; ok {
		t.Errorf("counted as a 500: %v", v)
	}
}

// httpapiStatusClientClosed is the status the access log must show (nginx's
// 499), written out so the test does not take it from the code under test.
const httpapiStatusClientClosed = 499

// scrapeHandler reads h's metrics in the Prometheus text format.
func scrapeHandler(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}
