package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/openapi"
	"github.com/latchkey-dev/latchkey/web"
)

// Handler returns the HTTP handler of the enabled dialects (mounted by the
// latchkey package, as in an embedding application) plus the operations
// routes, wrapped in the shared middleware. GET /metrics is here unless
// METRICS_ADDR gives it a listener of its own (MetricsHandler); it then
// answers 404 like any unknown route.
func (a *App) Handler() (http.Handler, error) {
	mux := http.NewServeMux()
	a.Latchkey.Register(mux)
	if a.Transmitter != nil {
		a.Transmitter.Register(mux)
	}
	mux.Handle("GET /healthz", httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}, nil))
	mux.Handle("GET /readyz", httpapi.Handle(a.ready, nil))
	mux.Handle("GET /openapi.json", openapi.Handler())
	if a.Config.MetricsAddr == "" {
		mux.Handle("GET /metrics", a.Metrics.Handler())
	}
	mux.Handle("GET /{$}", web.Handler()) // the account page; {$}: "/" only
	mux.Handle("GET /app.js", web.Handler())
	mux.Handle("GET /app.css", web.Handler())
	mux.Handle("/", latchkey.Fallback(mux))
	h := a.Latchkey.Wrap(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.draining.Load() {
			// Draining: each answer ends its connection, so a client's next
			// request opens a new one, which the load balancer routes to an
			// instance that stays.
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	}), nil
}

// MetricsHandler serves GET /metrics alone, for the METRICS_ADDR listener.
func (a *App) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.Metrics.Handler())
	return mux
}

// ready is GET /readyz: 200 when the database answers, else 503 with
// Retry-After; 503 "stopping" from the moment the server is asked to stop.
func (a *App) ready(w http.ResponseWriter, r *http.Request) error {
	if a.draining.Load() {
		return &httpapi.Error{Status: http.StatusServiceUnavailable, Code: "stopping",
			Message: "the server is shutting down"}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.Store.Ping(ctx); err != nil {
		h := http.Header{}
		httpapi.WriteRetryAfter(h, 2*time.Second)
		return &httpapi.Error{Status: http.StatusServiceUnavailable, Code: "database_unavailable",
			Message: "the database is not reachable", Cause: err, Header: h}
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "database": "ok"})
}

// Serve listens on HTTP_ADDR (and METRICS_ADDR when set) and serves until
// ctx ends; then it drains and shuts down (see ServeListener).
func Serve(ctx context.Context, a *App) error {
	ln, err := net.Listen("tcp", a.Config.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
	}
	return ServeListener(ctx, a, ln)
}

// ServeListener is Serve on an existing API listener (tests listen on port
// 0); it opens METRICS_ADDR itself.
//
// When ctx ends (SIGTERM), GET /readyz answers 503 at once and the server
// keeps serving for SHUTDOWN_DRAIN_DELAY, closing each connection after its
// answer, so that requests a load balancer still routes here while it
// notices are served; then it stops listening and waits up to
// SHUTDOWN_TIMEOUT for the requests in flight, and closes the connections
// of any still running (logged; the stop still succeeds).
func ServeListener(ctx context.Context, a *App, ln net.Listener) error {
	h, err := a.Handler()
	if err != nil {
		ln.Close()
		return err
	}
	api := newHTTPServer(h)
	api.IdleTimeout = a.Config.HTTPIdleTimeout.D()
	ln = limitConnections(ln, api, a.Config.MaxConnections) // connlimit.go
	servers := []*http.Server{api}
	listeners := []net.Listener{ln}
	if a.Config.MetricsAddr != "" {
		mln, err := net.Listen("tcp", a.Config.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("METRICS_ADDR: %w", err)
		}
		servers = append(servers, newHTTPServer(a.MetricsHandler()))
		listeners = append(listeners, mln)
	}
	if a.Transmitter != nil {
		a.Transmitter.Start() // the push and the watch of this instance; stopped by Close
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	a.Logger.Info("serving", "addr", ln.Addr().String(), "issuer", a.Config.Issuer(), "dialects", a.Config.Dialects.String())
	if len(listeners) > 1 {
		a.Logger.Info("serving metrics", "addr", listeners[1].Addr().String())
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		a.draining.Store(true)
		if a.Transmitter != nil {
			a.Transmitter.Drain() // waiting polls answer now
		}
		if d := a.Config.ShutdownDrainDelay.D(); d > 0 {
			a.Logger.Info("stopping: readiness fails, still serving while load balancers notice", "drain_delay", d.String())
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case serveErr = <-errc:
				t.Stop()
			}
		}
		a.Logger.Info("stopping: no new connections, waiting for requests in flight", "timeout", a.Config.ShutdownTimeout.D().String())
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout.D())
	defer cancel()
	var shutdownErr error
	for _, srv := range servers {
		err := srv.Shutdown(sctx)
		if errors.Is(err, context.DeadlineExceeded) {
			// The bound was reached, as it may be on any stop (a slow
			// upload, a client holding a body open): that is the setting
			// at work, not a failed stop. Cut what is left now, before
			// the store closes under its handlers.
			a.Logger.Warn("stopping: SHUTDOWN_TIMEOUT passed with requests in flight; closing their connections",
				"timeout", a.Config.ShutdownTimeout.D().String())
			err = srv.Close()
		}
		if err != nil && shutdownErr == nil {
			shutdownErr = err
		}
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return shutdownErr
}

// newHTTPServer returns a server with the timeouts docs/configuration.md
// lists ("HTTP connections"); the API's idle timeout is HTTP_IDLE_TIMEOUT.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 64 << 10}
}
