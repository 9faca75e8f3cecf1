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
// routes, wrapped in the shared middleware.
func (a *App) Handler() (http.Handler, error) {
	mux := http.NewServeMux()
	a.Latchkey.Register(mux)
	mux.Handle("GET /healthz", httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}, nil))
	mux.Handle("GET /readyz", httpapi.Handle(a.ready, nil))
	mux.Handle("GET /openapi.json", openapi.Handler())
	mux.Handle("GET /metrics", a.Metrics.Handler())
	mux.Handle("GET /{$}", web.Handler()) // the account page; {$}: "/" only
	mux.Handle("GET /app.js", web.Handler())
	mux.Handle("GET /app.css", web.Handler())
	mux.Handle("/", latchkey.NotFound())
	return a.Latchkey.Wrap(mux), nil
}

// ready is GET /readyz: 200 when the database answers, else 503 with
// Retry-After.
func (a *App) ready(w http.ResponseWriter, r *http.Request) error {
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

// Serve listens on HTTP_ADDR and serves until ctx ends, then shuts down
// gracefully within SHUTDOWN_TIMEOUT.
func Serve(ctx context.Context, a *App) error {
	ln, err := net.Listen("tcp", a.Config.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
	}
	return ServeListener(ctx, a, ln)
}

// ServeListener is Serve on an existing listener (tests listen on port 0).
func ServeListener(ctx context.Context, a *App, ln net.Listener) error {
	h, err := a.Handler()
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.Logger.Info("serving", "addr", ln.Addr().String(), "issuer", a.Config.Issuer(), "dialects", a.Config.Dialects.String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout.D())
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
