package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// wtx is the writer connection inside one group commit, used through
// SQLite's own API rather than database/sql. A batch holds the connection for
// its whole transaction anyway, and database/sql's per-statement machinery
// (a Stmt per transaction, driver.Value conversion, Rows bookkeeping,
// convertAssign of every column) cost about as much CPU as SQLite's own
// execution of the refresh's UPDATE … RETURNING (BenchmarkRotate profile,
// docs/performance.md). Statements are prepared once per connection and
// reused; SQLite re-prepares them by itself after a schema change.
type wtx struct {
	c     *sqlite3.Conn
	cache *stmtCache
}

// stmtCache holds the writer connection's prepared statements by SQL text.
// It belongs to the writer goroutine (and Close, after the writer stopped).
type stmtCache struct {
	conn  *sqlite3.Conn
	stmts map[string]*sqlite3.Stmt
}

// withRaw runs f on the writer connection's *sqlite3.Conn, with the
// statement cache of that connection. database/sql keeps the connection to
// itself meanwhile, so nothing else runs on it.
func (db *DB) withRaw(ctx context.Context, f func(t *wtx) error) error {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		r, ok := dc.(interface{ Raw() *sqlite3.Conn })
		if !ok {
			return fmt.Errorf("sqlite: driver connection %T has no raw connection", dc)
		}
		c := r.Raw()
		if db.cache.conn != c {
			// A new connection (database/sql replaced a bad one): the old
			// statements died with the old connection.
			db.cache = stmtCache{conn: c, stmts: map[string]*sqlite3.Stmt{}}
		}
		// Our statements run under no caller's context (batch.go); a
		// context the driver left from an earlier query must not
		// interrupt them.
		defer c.SetInterrupt(c.SetInterrupt(context.Background()))
		t := &wtx{c: c, cache: &db.cache}
		err := f(t)
		if err == nil || c.GetAutocommit() {
			return err
		}
		// f failed inside a transaction and could not end it (a failed
		// ROLLBACK). Try once more; a connection that stays in a
		// transaction would fail every later BEGIN IMMEDIATE, so it is
		// discarded: its statements are finalized (SQLite refuses to close a
		// connection with live statements, and database/sql would leak it)
		// and driver.ErrBadConn makes database/sql close it and open another.
		c.SetInterrupt(context.Background())
		rerr := t.rollback()
		if c.GetAutocommit() {
			return err
		}
		return errors.Join(err, rerr, t.cache.finalize(), driver.ErrBadConn)
	})
}

// finalize closes every cached statement (before their connection closes).
func (c *stmtCache) finalize() error {
	var errs []error
	for q, s := range c.stmts {
		errs = append(errs, s.Close())
		delete(c.stmts, q)
	}
	return errors.Join(errs...)
}

// closeStmts finalizes the cached statements (before the connection closes:
// SQLite refuses to close a connection with live statements).
func (db *DB) closeStmts() error {
	if len(db.cache.stmts) == 0 {
		return nil
	}
	return db.withRaw(context.Background(), func(t *wtx) error { return t.cache.finalize() })
}

// prepare returns the prepared statement for query, preparing it on first
// use. query must hold exactly one statement.
func (t *wtx) prepare(query string) (*sqlite3.Stmt, error) {
	if s, ok := t.cache.stmts[query]; ok {
		return s, nil
	}
	s, tail, err := t.c.PrepareFlags(query, sqlite3.PREPARE_PERSISTENT)
	if err != nil {
		return nil, err
	}
	if s == nil || strings.TrimSpace(tail) != "" {
		return nil, errors.Join(fmt.Errorf("sqlite: want exactly one statement in %q", query), s.Close())
	}
	t.cache.stmts[query] = s
	return s, nil
}

// query prepares (once) and binds query; the caller steps it and must Reset
// it when done, before the next use of the same query.
func (t *wtx) query(query string, args ...any) (*sqlite3.Stmt, error) {
	s, err := t.prepare(query)
	if err != nil {
		return nil, err
	}
	for i, a := range args {
		switch v := a.(type) {
		case nil:
			err = s.BindNull(i + 1)
		case int64:
			err = s.BindInt64(i+1, v)
		case int:
			err = s.BindInt64(i+1, int64(v))
		case string:
			err = s.BindText(i+1, v)
		case bool:
			err = s.BindBool(i+1, v)
		case []byte:
			err = s.BindBlob(i+1, v)
		default:
			err = fmt.Errorf("sqlite: cannot bind %T", a)
		}
		if err != nil {
			return nil, errors.Join(err, s.ClearBindings())
		}
	}
	return s, nil
}

// exec runs a statement that returns no rows (or whose rows are not wanted)
// and returns how many rows it changed.
func (t *wtx) exec(query string, args ...any) (int64, error) {
	s, err := t.query(query, args...)
	if err != nil {
		return 0, err
	}
	for s.Step() {
	}
	// Err before Reset, which clears it: a step refused before it reached
	// SQLite (an interrupted connection) leaves Reset nothing to report.
	if err := errors.Join(s.Err(), s.Reset()); err != nil {
		return 0, err
	}
	return t.c.Changes(), nil
}

// rows runs a statement returning rows, calling row for each; the statement
// is reset before rows returns, whatever happens.
func (t *wtx) rows(query string, args []any, row func(s *sqlite3.Stmt) error) error {
	s, err := t.query(query, args...)
	if err != nil {
		return err
	}
	for s.Step() {
		if err := row(s); err != nil {
			return errors.Join(err, s.Reset())
		}
	}
	return errors.Join(s.Err(), s.Reset())
}
