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
// pool_max_conn_idle_time, connect_timeout, search_path) or else the
// default.
type Options struct {
	// Schema is the PostgreSQL schema that holds Latchkey's tables (users,
	// sessions, signing_keys, secrets and the migration history
	// latchkey_schema_migrations): it is the search_path of every connection,
	// and Migrate creates it. Empty means the URL's search_path when the URL
	// sets one (used as it is; its first schema is the one Migrate creates and
	// the tables go to), else DefaultSchema ("latchkey"). An application that keeps
	// its own tables in the same database, its own users table say, thus
	// never meets Latchkey's. It must be a lower-case SQL identifier
	// (a-z, 0-9, _, at most 63 bytes). Installs made before this option keep
	// their tables in "public": set Schema to "public", or move them
	// (docs/embedding.md, "Tables and schema"); Migrate refuses to start an
	// empty DefaultSchema beside them.
	Schema string
	// MaxConns caps open connections; pgx's default is max(4, NumCPU).
	// Rotate's batches (batch.go) run on at most half of them, and at most 4
	// at once, so that other calls always find a connection.
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
	// QueryTimeout bounds each call of the store (waiting for a pooled
	// connection, dialing one, the round trips of its statements) when the
	// caller's context has no earlier deadline (default 5s; negative: no
	// bound). It is what turns a database that stops answering (a network
	// partition, a blackholed or hung server, a pool whose every connection is
	// stuck) into store.ErrUnavailable within a known time instead of a
	// request that hangs until TCP gives up, minutes later. pgx closes a
	// connection whose deadline passes, and the pool dials a new one for the
	// next call, so recovery needs nothing else.
	//
	// The server is told to give up first: every connection runs with
	// statement_timeout a margin below QueryTimeout (settings.go), so a
	// statement stuck on a lock or a slow disk ends with the server's own
	// verdict (rolled back) rather than the client's guess (statement.go).
	//
	// A Rotate call can take up to about three times QueryTimeout: it may
	// wait in the queue for a batch ahead of it (one still queued after
	// QueryTimeout is failed rather than run), then for a connection, then
	// for its statement. Migrate and Purge are not bounded by it: they are
	// administrative and may legitimately run long; their callers' contexts
	// bound them.
	QueryTimeout time.Duration
}

const (
	defaultConnectTimeout = 5 * time.Second
	defaultQueryTimeout   = 5 * time.Second
)

// DefaultSchema holds Latchkey's tables when neither Options.Schema nor the
// URL's search_path names a schema.
const DefaultSchema = "latchkey"

// DB is a store.Store over a PostgreSQL connection pool. It is safe for
// concurrent use.
type DB struct {
	pool         *pgxpool.Pool
	schema       schema        // where the tables are (schema.go)
	queryTimeout time.Duration // <= 0: calls are bounded by their callers only
	rot          rotator       // batches concurrent Rotate calls (batch.go)
	seq          sequencer     // one feed sequencer at a time (sequencer.go)
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
	sch, err := chooseSchema(opts.Schema, cfg.ConnConfig.RuntimeParams)
	if err != nil {
		return nil, err
	}
	switch {
	case opts.ConnectTimeout > 0:
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	case cfg.ConnConfig.ConnectTimeout == 0:
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	qt := opts.QueryTimeout
	if qt == 0 {
		qt = defaultQueryTimeout
	}
	pinSettings(cfg.ConnConfig, qt) // isolation, durability, statement_timeout (settings.go)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, wrap("open", err)
	}
	db := &DB{pool: pool, schema: sch, queryTimeout: qt}
	db.rot.maxInFlight = rotateInFlight(cfg.MaxConns)
	db.rot.queryTimeout = qt
	return db, nil
}

// bound returns ctx with the DB's QueryTimeout applied, unless ctx already
// ends sooner. A deadline that passes is reported as store.ErrUnavailable
// (see classify), wrapping context.DeadlineExceeded.
func (db *DB) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if db.queryTimeout <= 0 {
		return ctx, func() {}
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= db.queryTimeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, db.queryTimeout)
}

// Ping reports whether the database is reachable; store.ErrUnavailable if not.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return wrap("ping", db.pool.Ping(ctx))
}

// Close closes every connection of the pool, waiting for connections in use
// to be released (a Rotate batch under way finishes first). Rotate has no
// goroutine of its own to stop: calls after Close, and any still queued,
// fail like every other call on a closed pool.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}
