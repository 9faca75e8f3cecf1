package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/latchkey-dev/latchkey/server/servertest"
)

// BenchmarkRefresh is one canonical POST /token through the whole handler
// (middleware, dialect, domain, ES256 access token, HS256 refresh token,
// SQLite Rotate with rotation on, synchronous=FULL, group commit), called
// in-process with httptest: no sockets, so it is the server's own cost.
//
// sequential follows one rotation chain: every op waits for its own fsync.
// parallel runs 32 chains at once (b.SetParallelism), so group commit can
// share fsyncs, as under the load tool's C=32.
func BenchmarkRefresh(b *testing.B) {
	b.Run("sequential", func(b *testing.B) { benchRefresh(b, 1) })
	b.Run("parallel", func(b *testing.B) { benchRefresh(b, 32) })
}

func benchRefresh(b *testing.B, chains int) {
	// The production handler (not the test server's OpenAPI-checking wrap),
	// logging JSON at info level to nowhere, as a server logs to stderr.
	srv := servertest.StartConfig(b, servertest.Config(b), servertest.WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))))
	h := srv.Handler
	tokens := make([]string, chains)
	for i := range tokens {
		tokens[i] = srv.SignIn(b, "bench"+strings.Repeat("x", i)+"@example.com", "correct horse battery").RefreshToken
	}
	var next atomic.Int64
	refresh := func(tok string) (string, error) {
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(`{"refreshToken":"`+tok+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "127.0.0.1:1234"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			return "", &httpError{w.Code, w.Body.String()}
		}
		var out struct {
			RefreshToken string `json:"refreshToken"`
		}
		err := json.NewDecoder(bytes.NewReader(w.Body.Bytes())).Decode(&out)
		return out.RefreshToken, err
	}
	b.ReportAllocs()
	b.ResetTimer()
	if chains == 1 {
		tok := tokens[0]
		for b.Loop() {
			var err error
			if tok, err = refresh(tok); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism((chains + 1) / 2) // GOMAXPROCS=2 here: 32 goroutines
	b.RunParallel(func(pb *testing.PB) {
		tok := tokens[int(next.Add(1)-1)%chains]
		for pb.Next() {
			var err error
			if tok, err = refresh(tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return http.StatusText(e.status) + ": " + e.body }
