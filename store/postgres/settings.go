package postgres

import (
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// The session settings every connection of the pool starts with. They are
// sent in the start-up message (pgx's RuntimeParams), so they hold from the
// first statement, whatever the database's or the role's defaults say.
//
//   - default_transaction_isolation = 'read committed'. Rotate's
//     compare-and-set relies on it (rotate.go): a statement that waited for
//     a row another transaction changed re-checks its WHERE clause against
//     the newest version and simply skips the row. Under REPEATABLE READ or
//     SERIALIZABLE the same statement fails with a serialization error
//     instead, and a double refresh would fail its whole batch (up to 128
//     sessions) with 503. It is always set; a value in DATABASE_URL is
//     overridden.
//   - synchronous_commit = 'on': a refresh is acknowledged only once its
//     commit is durable (flushed, and confirmed by the synchronous standbys
//     if there are any). A value in DATABASE_URL wins, for a deployment
//     that wants remote_apply, say (docs/infrastructure.md).
//   - statement_timeout: QueryTimeout less a margin, so that the server,
//     which knows whether a statement committed, gives up on it before the
//     client does (statement.go). Always set when QueryTimeout is; Migrate
//     and Purge, which may legitimately run long, use connections without
//     it (adminConfig).
func pinSettings(cfg *pgx.ConnConfig, queryTimeout time.Duration) {
	rp := cfg.RuntimeParams
	rp["default_transaction_isolation"] = "read committed"
	if _, ok := rp["synchronous_commit"]; !ok {
		rp["synchronous_commit"] = "on"
	}
	if t := serverTimeout(queryTimeout); t > 0 {
		rp["statement_timeout"] = strconv.FormatInt(t.Milliseconds(), 10)
	}
}

// serverTimeout returns the statement_timeout for a client that waits
// queryTimeout for each statement: a quarter less, and at most a second
// less. The margin covers what statement_timeout does not: the commit's WAL
// flush (and a synchronous standby's acknowledgement), the server's error
// on its way back, and the client's timer firing a little early. 0: none.
func serverTimeout(queryTimeout time.Duration) time.Duration {
	if queryTimeout <= 0 {
		return 0
	}
	margin := min(queryTimeout/4, time.Second)
	return max(queryTimeout-margin, time.Millisecond)
}

// adminConfig returns a copy of the pool's connection settings without a
// statement_timeout, for Migrate and Purge: a migration, or a purge waiting
// for another instance's migration lock, may legitimately take longer than
// a refresh may.
func (db *DB) adminConfig() *pgx.ConnConfig {
	cfg := db.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["statement_timeout"] = "0"
	return cfg
}
