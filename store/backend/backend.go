// Package backend opens a Latchkey store from a URL, the way the latchkey
// binary opens DATABASE_URL: sqlite://path (or a file: URI) for the embedded
// SQLite database, postgres:// or postgresql:// for PostgreSQL.
//
// An application that knows its backend may import store/sqlite or
// store/postgres alone instead (and link only that driver); this package
// links both.
package backend

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres"
	"github.com/latchkey-dev/latchkey/store/sqlite"
)

// Store is a store.Store that creates and updates its own schema: what Open
// returns, so Migrate and CheckSchema need no type assertion.
type Store interface {
	store.Store
	// Migrate applies the schema migrations the database lacks. Instances
	// starting at once may all call it: the migrations run once. It returns
	// store.ErrUnavailable when the database cannot be reached.
	Migrate(ctx context.Context) error
	// MigrateLogged is Migrate, logging its progress to log (nil: nothing):
	// the start, each migration started and done with its duration, the end
	// (latchkey serve migrates before it listens; a long migration says so).
	MigrateLogged(ctx context.Context, log *slog.Logger) error
	// CheckSchema returns nil when the database's schema is exactly the one
	// this build's migrations make, else a *store.SchemaError. It never
	// writes.
	CheckSchema(ctx context.Context) error
}

var (
	_ Store = (*sqlite.DB)(nil)
	_ Store = (*postgres.DB)(nil)
)

// Options tune the backend Open picks; the other one's are ignored.
type Options struct {
	SQLite   sqlite.Options
	Postgres postgres.Options // its Schema is where the tables are (default "latchkey")
}

// Open opens the store named by url's scheme. It does not migrate: call
// Migrate once at start-up. An unknown scheme is an error that does not
// repeat the URL (it may hold a password).
func Open(ctx context.Context, url string, o Options) (Store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite:") || strings.HasPrefix(url, "file:"):
		return sqlite.OpenWith(ctx, url, o.SQLite)
	case strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://"):
		return postgres.Open(ctx, url, o.Postgres)
	}
	return nil, fmt.Errorf("unsupported database URL scheme in %q (want sqlite:// or postgres://)", redactedScheme(url))
}

// redactedScheme keeps the scheme of a URL and hides the rest.
func redactedScheme(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		return u[:i+3] + "…"
	}
	return "…"
}
