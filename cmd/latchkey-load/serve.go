package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/server"
)

// target is the server under load.
type target struct {
	base string // its base URL
	pid  int    // its process, whose RSS and CPU are reported (0: unknown)
	// app is the server when it runs in this process, or the app opened on
	// an external server's database to seed sessions there; nil otherwise.
	app *server.App
}

// serveInProcess starts the server in this process on 127.0.0.1:0 (with
// rate limits off: every request comes from 127.0.0.1), fills in t, and
// returns the function that stops it.
func serveInProcess(ctx context.Context, o options, env map[string]string, t *target, stdout, stderr io.Writer) (func(), error) {
	env["DATABASE_URL"] = o.databaseURL
	env["RATE_LIMITS"] = "off"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t.base, t.pid = "http://"+ln.Addr().String(), os.Getpid()
	if _, ok := env["PUBLIC_URL"]; !ok {
		env["PUBLIC_URL"] = t.base
	}
	logf, err := os.OpenFile(o.serverLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		ln.Close()
		return nil, err
	}
	app, err := openApp(ctx, env, logf, true)
	if err != nil {
		ln.Close()
		logf.Close()
		return nil, err
	}
	t.app = app
	// The same runtime settings as `latchkey serve`.
	server.TuneRuntime(app.Config.HashConcurrency(), app.Config.MaxConnections, password.Default)
	errc := make(chan error, 1)
	sctx, cancel := context.WithCancel(ctx)
	go func() { errc <- server.ServeListener(sctx, app, ln) }()
	fmt.Fprintf(stdout, "serving %s in process %d (database %s)\n", t.base, t.pid, redactDB(o.databaseURL))
	if o.pprofAddr != "" {
		go func() {
			if err := http.ListenAndServe(o.pprofAddr, nil); err != nil {
				fmt.Fprintln(stderr, "pprof:", err)
			}
		}()
		fmt.Fprintf(stdout, "pprof on http://%s/debug/pprof/\n", o.pprofAddr)
	}
	return func() {
		cancel()
		<-errc
		app.Close()
		logf.Close()
	}, nil
}

// openApp opens and migrates the store and builds the app from a
// configuration loaded like `latchkey serve` loads its own.
func openApp(ctx context.Context, env map[string]string, logs io.Writer, migrate bool) (*server.App, error) {
	cfg, err := config.Load(nil, env)
	if err != nil {
		return nil, err
	}
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if migrate {
		if err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	var h slog.Handler = slog.NewJSONHandler(logs, opts)
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(logs, opts)
	}
	app, err := server.Open(ctx, cfg, st, server.Options{Logger: slog.New(h)})
	if err != nil {
		st.Close()
		return nil, err
	}
	return app, nil
}
