package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/latchkey-dev/latchkey/store"
)

var _ store.Store = (*DB)(nil)

// Options tune the connection pool. A zero field keeps what the URL says
// (pool_max_conns, pool_min_conns, pool_max_conn_lifetime,
// pool_max_conn_idle_time, connect_timeout) or else pgx's default.
type Options struct {
	// MaxConns caps open connections; pgx's default is max(4, NumCPU).
	MaxConns int32
	// MinConns keeps this many connections open even when idle (default 0).
	MinConns int32
	// MaxConnLifetime closes a connection after this long (default 1h), so
	// that connections move to a new server after a failover.
	MaxConnLifetime time.Duration
	// MaxConnIdleTime closes an idle connection after this long (default 30m).
	MaxConnIdleTime time.Duration
	// ConnectTimeout bounds one attempt to dial and authenticate when the
	// caller's context has no earlier deadline (default 5s), so that an
	// unreachable server yields store.ErrUnavailable instead of a hang.
	ConnectTimeout time.Duration
}

const defaultConnectTimeout = 5 * time.Second

// DB is a store.Store over a PostgreSQL connection pool. It is safe for
// concurrent use.
type DB struct {
	pool *pgxpool.Pool
}

// Open parses url (postgres:// or postgresql://, or a keyword/value DSN) and
// returns a DB with a connection pool configured by opts. It does not connect:
// use Ping to check the server and Migrate to create or update the schema.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The error text is pgx's, which redacts the password.
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.MinConns > 0 {
		cfg.MinConns = opts.MinConns
	}
	if cfg.MinConns > cfg.MaxConns {
		cfg.MinConns = cfg.MaxConns
	}
	if opts.MaxConnLifetime > 0 {
		cfg.MaxConnLifetime = opts.MaxConnLifetime
	}
	if opts.MaxConnIdleTime > 0 {
		cfg.MaxConnIdleTime = opts.MaxConnIdleTime
	}
	switch {
	case opts.ConnectTimeout > 0:
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	case cfg.ConnConfig.ConnectTimeout == 0:
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, wrap("open", err)
	}
	return &DB{pool: pool}, nil
}

// Ping reports whether the database is reachable; store.ErrUnavailable if not.
func (db *DB) Ping(ctx context.Context) error {
	return wrap("ping", db.pool.Ping(ctx))
}

// Close closes every connection of the pool, waiting for connections in use
// to be released.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}
