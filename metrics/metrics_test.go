package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/httpapi/ratelimit"
	"github.com/latchkey-dev/latchkey/metrics"
	"github.com/latchkey-dev/latchkey/password"
)

func scrape(t testing.TB, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func wantLine(t *testing.T, body, line string) {
	t.Helper()
	for _, l := range strings.Split(body, "\n") {
		if l == line {
			return
		}
	}
	t.Errorf("no line %q", line)
}

// The chain of server.Handler in miniature: AccessLog, Metrics, Recover,
// the mux. Routes are labelled by pattern, and a recovered panic is counted
// as the 500 the client saw.
func TestMiddlewareLabels(t *testing.T) {
	m := metrics.New()
	mux := http.NewServeMux()
	mux.HandleFunc("DELETE /auth/sessions/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	mux.HandleFunc("GET /quiet", func(w http.ResponseWriter, r *http.Request) {})
	h := httpapi.Chain(mux, httpapi.AccessLog(discard(), httpapi.ClientIP{}), m.Middleware, httpapi.Recover(discard()))
	for _, req := range []*http.Request{
		httptest.NewRequest("DELETE", "/auth/sessions/0191e3c4-aaaa-7bbb-8ccc-000000000001", nil),
		httptest.NewRequest("DELETE", "/auth/sessions/0191e3c4-aaaa-7bbb-8ccc-000000000002", nil),
		httptest.NewRequest("GET", "/boom", nil),
		httptest.NewRequest("GET", "/quiet", nil),
		httptest.NewRequest("GET", "/nowhere", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	body := scrape(t, m)
	wantLine(t, body, `latchkey_http_requests_total{code="204",route="DELETE /auth/sessions/{id}"} 2`)
	wantLine(t, body, `latchkey_http_requests_total{code="500",route="GET /boom"} 1`)
	wantLine(t, body, `latchkey_http_requests_total{code="200",route="GET /quiet"} 1`)
	wantLine(t, body, `latchkey_http_requests_total{code="404",route="unmatched"} 1`)
	wantLine(t, body, `latchkey_http_request_duration_seconds_count{class="2xx",route="DELETE /auth/sessions/{id}"} 2`)
	if strings.Contains(body, "0191e3c4") {
		t.Error("a raw path reached a label")
	}
	// Known outcomes are exported at zero before they happen, so a rate()
	// over them works from the start.
	wantLine(t, body, `latchkey_refresh_reuse_detected_total 0`)
	wantLine(t, body, `latchkey_refreshes_total{outcome="refresh_token_reused"} 0`)
	wantLine(t, body, `latchkey_rate_limit_hits_total{limit="signin_failures_account"} 0`)
}

func TestObserver(t *testing.T) {
	m := metrics.New()
	m.SignIn("success")
	m.SignIn("invalid_credentials")
	m.SignIn("invalid_credentials")
	m.Refresh("rotated")
	m.Refresh("something_new") // not known in advance: still counted
	m.ReuseDetected()
	m.RateLimited(ratelimit.LimitRefreshIP)
	m.LimiterError()
	body := scrape(t, m)
	wantLine(t, body, `latchkey_signins_total{outcome="success"} 1`)
	wantLine(t, body, `latchkey_signins_total{outcome="invalid_credentials"} 2`)
	wantLine(t, body, `latchkey_refreshes_total{outcome="rotated"} 1`)
	wantLine(t, body, `latchkey_refreshes_total{outcome="something_new"} 1`)
	wantLine(t, body, `latchkey_refresh_reuse_detected_total 1`)
	wantLine(t, body, `latchkey_rate_limit_hits_total{limit="refresh_ip"} 1`)
	wantLine(t, body, `latchkey_rate_limiter_errors_total 1`)
	// Each Metrics has its own registry: a second one starts at zero.
	wantLine(t, scrape(t, metrics.New()), `latchkey_signins_total{outcome="success"} 0`)
}

// BenchmarkMiddleware is the cost the metrics middleware adds to a request,
// inside AccessLog as in the server: the difference between the two
// sub-benchmarks.
func BenchmarkMiddleware(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	m := metrics.New()
	w := &httpapi.StatusRecorder{ResponseWriter: discardWriter{}} // what AccessLog passes on
	req := httptest.NewRequest("POST", "/token", nil)
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"mux", mux},
		{"metrics+mux", m.Middleware(mux)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, req)
			}
		})
	}
}

func BenchmarkMiddlewareParallel(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	h := metrics.New().Middleware(mux)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &httpapi.StatusRecorder{ResponseWriter: discardWriter{}}
		req := httptest.NewRequest("POST", "/token", nil)
		for pb.Next() {
			h.ServeHTTP(w, req)
		}
	})
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// WatchHasher exports a real hasher's capacity and refusals; the values are
// read at scrape time.
func TestWatchHasher(t *testing.T) {
	m := metrics.New()
	h := password.New(password.Cheap, 1, 0) // one slot, no queue
	m.WatchHasher(h)
	body := scrape(t, m)
	wantLine(t, body, `latchkey_password_hash_slots 1`)
	wantLine(t, body, `latchkey_password_hash_queue_size 0`)
	wantLine(t, body, `latchkey_password_hash_slots_in_use 0`)
	wantLine(t, body, `latchkey_password_hash_queued 0`)
	wantLine(t, body, `latchkey_password_hash_refused_total 0`)
	if _, err := h.Hash(context.Background(), "pw"); err != nil {
		t.Fatal(err)
	}
	wantLine(t, scrape(t, m), `latchkey_password_hash_refused_total 0`)
}

// WatchDatabase reports the ping's answer at each scrape.
func TestWatchDatabase(t *testing.T) {
	m := metrics.New()
	var down atomic.Bool
	m.WatchDatabase(func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the ping has no deadline")
		}
		if down.Load() {
			return errors.New("connection refused")
		}
		return nil
	})
	wantLine(t, scrape(t, m), `latchkey_database_up 1`)
	down.Store(true)
	wantLine(t, scrape(t, m), `latchkey_database_up 0`)
	down.Store(false)
	wantLine(t, scrape(t, m), `latchkey_database_up 1`)
}
