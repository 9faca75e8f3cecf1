// Command latchkey is the Latchkey token service: `latchkey serve` migrates
// the database and serves HTTP; the other subcommands administer users,
// sessions and keys. Every setting is an environment variable and a flag
// (docs/configuration.md).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server"
)

// CLI is the command line. The settings are global flags, so every
// subcommand reads DATABASE_URL and the rest the same way.
type CLI struct {
	config.Config `embed:""`

	Serve   serveCmd   `cmd:"" help:"Migrate the database, then serve HTTP until SIGINT or SIGTERM."`
	Migrate migrateCmd `cmd:"" help:"Apply database migrations and exit."`
	User    userCmd    `cmd:"" help:"Manage users."`
	Session sessionCmd `cmd:"" help:"Manage sessions."`
	Purge   purgeCmd   `cmd:"" help:"Delete expired and revoked sessions and expired signing keys (run it from a scheduler)."`
	Keys    keysCmd    `cmd:"" help:"Manage access-token signing keys."`
	SSF     ssfCmd     `cmd:"" name:"ssf" help:"Manage the Shared Signals transmitter (revocation events for APIs)."`
	Show    configCmd  `cmd:"" name:"config" help:"Print the effective configuration, secrets redacted."`

	Version     versionCmd     `cmd:"" help:"Print the version, VCS revision and time, and Go version of this build."`
	Healthcheck healthcheckCmd `cmd:"" help:"Ask the local server (HTTP_ADDR) whether it is ready: exit 0 if GET /readyz answers 200, else 1."`
}

// env carries what commands share.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	log    *slog.Logger
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	var cli CLI
	parser, err := kong.New(&cli, kong.Name("latchkey"),
		kong.Description("Latchkey: sign-in, short-lived JWT access tokens and rotating refresh tokens."),
		kong.UsageOnError(), kong.Writers(stdout, stderr),
		kong.Exit(func(c int) { panic(exitCode(c)) }))
	if err != nil {
		fmt.Fprintln(stderr, "latchkey:", err)
		return 2
	}
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(exitCode)
			if !ok {
				panic(r)
			}
			code = int(c)
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintln(stderr, "latchkey:", oneLine(err.Error()))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, log: newLogger(cli.Config, stderr)}
	if err := kctx.Run(&cli.Config, e); err != nil {
		fmt.Fprintln(stderr, "latchkey:", oneLine(err.Error()))
		return 1
	}
	return 0
}

type exitCode int

func oneLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// open opens and migrates the store and builds the app.
func open(e *env, cfg *config.Config, migrate bool) (*server.App, error) {
	st, err := server.OpenStore(e.ctx, *cfg)
	if err != nil {
		return nil, err
	}
	if migrate {
		if err := st.MigrateLogged(e.ctx, e.log); err != nil {
			st.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	app, err := server.Open(e.ctx, *cfg, st, server.Options{Logger: e.log})
	if err != nil {
		st.Close()
		return nil, err
	}
	return app, nil
}
