// Package servertest starts real Latchkey servers for tests: a real SQLite
// file (or PostgreSQL), the real handler behind an httptest.Server, cheap
// password hashing and an injected clock, so HTTP behaviour is tested with
// real clients and tests never sleep to let time pass.
package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/openapi/openapitest"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/server"
)

// Epoch is the time test clocks start at.
var Epoch = time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)

// Server is a running test server.
type Server struct {
	*httptest.Server
	App   *server.App
	Clock *testkit.Clock
	// Logs holds everything the server logged (for leak tests).
	Logs *testkit.Buffer
	// Handler is the server's own handler, without the OpenAPI check that
	// wraps it in the test server: benchmarks call it to measure the product.
	Handler http.Handler
	// Contract holds what the OpenAPI check found: every exchange with the
	// server is checked against openapi/openapi.json, and the test fails at
	// cleanup on any violation (see package openapitest for the rules).
	Contract *openapitest.Recorder
}

// Config returns the configuration tests start from: the defaults of every
// setting, a fresh SQLite file in t.TempDir(), rate limits off.
func Config(t testing.TB) config.Config {
	t.Helper()
	cfg, err := config.Load(nil, map[string]string{
		"DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "latchkey.db"),
		"RATE_LIMITS":  "off",
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Start starts a server with Config(t) changed by mod (may be nil). The
// issuer is the httptest URL unless mod sets JWT_ISSUER or PUBLIC_URL.
func Start(t testing.TB, mod func(*config.Config)) *Server {
	t.Helper()
	cfg := Config(t)
	if mod != nil {
		mod(&cfg)
	}
	return StartConfig(t, cfg)
}

// StartConfig starts a server for cfg (already validated or built by Config),
// with opts applied to the wiring.
func StartConfig(t testing.TB, cfg config.Config, opts ...Option) *Server {
	t.Helper()
	ctx := context.Background()
	ts := httptest.NewUnstartedServer(nil)
	if cfg.JWTIssuer == "" && cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + ts.Listener.Addr().String()
	}
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		t.Fatal(err)
	}
	clk := testkit.NewClock(Epoch)
	logs := &testkit.Buffer{}
	cheap := password.Cheap
	so := server.Options{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now: clk.Now, HashParams: &cheap}
	for _, o := range opts {
		o(&so)
	}
	app, err := server.Open(ctx, cfg, st, so)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	h, err := app.Handler()
	if err != nil {
		app.Close()
		t.Fatal(err)
	}
	contract, err := openapitest.Load()
	if err != nil {
		app.Close()
		t.Fatal(err)
	}
	rec := &openapitest.Recorder{}
	ts.Config.Handler = contract.Middleware(h, Enabled(cfg), rec)
	// Registered first, so it runs last: after the server has stopped and
	// every exchange has been checked.
	t.Cleanup(func() {
		for _, v := range rec.Violations() {
			t.Errorf("OpenAPI contract: %s", v)
		}
	})
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		app.Close()
	})
	return &Server{Server: ts, App: app, Clock: clk, Logs: logs, Handler: h, Contract: rec}
}

// Enabled reports which tags of the OpenAPI document cfg switches on: its
// dialects (DIALECTS), and "ssf", the transmitter (SSF).
func Enabled(cfg config.Config) func(tag string) bool {
	return func(tag string) bool {
		if tag == "ssf" {
			return cfg.SSF.On()
		}
		return cfg.DialectEnabled(tag)
	}
}

// Response is a decoded HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test on error.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Map decodes the body as a JSON object.
func (r *Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Do sends a request with an optional body (a string is sent as is, anything
// else as JSON) and headers given as "Name: value" strings.
func (s *Server) Do(t testing.TB, method, path string, body any, headers ...string) *Response {
	t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, ctype = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// SignUp creates a user through the canonical API.
func (s *Server) SignUp(t testing.TB, email, pw string) {
	t.Helper()
	if r := s.Do(t, "POST", "/auth/sign-up", map[string]string{"email": email, "password": pw}); r.Status != http.StatusCreated {
		t.Fatalf("sign-up %s: %d %s", email, r.Status, r.Body)
	}
}

// Tokens are the tokens of a canonical sign-in.
type Tokens struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
}

// SignIn signs up (if needed) and signs in through the canonical API.
func (s *Server) SignIn(t testing.TB, email, pw string) Tokens {
	t.Helper()
	s.Do(t, "POST", "/auth/sign-up", map[string]string{"email": email, "password": pw})
	r := s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": email, "password": pw})
	if r.Status != http.StatusOK {
		t.Fatalf("sign-in %s: %d %s", email, r.Status, r.Body)
	}
	var tk Tokens
	r.JSON(t, &tk)
	return tk
}

// SessionID returns the sid claim of a token the server minted (not
// verified: the test only needs the id to address the session).
func SessionID(t testing.TB, tok string) string {
	t.Helper()
	var c struct {
		SID string `json:"sid"`
	}
	if testkit.Claims(t, tok, &c); c.SID == "" {
		t.Fatalf("no sid in %q", tok)
	}
	return c.SID
}
