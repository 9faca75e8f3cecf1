package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"

	"github.com/latchkey-dev/latchkey/store"
)

var _ store.Store = (*DB)(nil)

// Options tune Open. The zero value is the safe default.
type Options struct {
	// Synchronous is SQLite's synchronous PRAGMA: "FULL" (the default),
	// "NORMAL", "EXTRA" or "OFF".
	//
	// FULL syncs the WAL at every commit, so a refresh acknowledged to a
	// client survives kill -9 and power loss. NORMAL in WAL mode syncs only at
	// checkpoints: the database never corrupts, and a process crash loses
	// nothing, but a power loss or OS crash may roll back the last commits.
	// For Latchkey that means a rotation the client already received may be
	// forgotten, so the client's new refresh token is then "from the future"
	// (ErrStale) and the user signs in again. NORMAL roughly halves the cost
	// of a write; choose it knowingly.
	Synchronous string
	// BusyTimeout is how long a statement waits for a lock held by another
	// process before failing with store.ErrUnavailable. Default 5s.
	BusyTimeout time.Duration
	// Readers is the size of the read-only pool. Default max(4, GOMAXPROCS).
	Readers int
}

// DB is the SQLite store. It is safe for concurrent use.
type DB struct {
	w      *sql.DB // exactly one connection: every write
	r      *sql.DB // read-only connections
	closed atomic.Bool
	// cache holds the writer connection's prepared statements (wtx.go),
	// prepared on first use (not at Open, which may precede Migrate).
	// Preparing costs more than executing: caching Rotate's statement cut a
	// sync=NORMAL rotation from ~210-450 µs to ~55-135 µs.
	cache stmtCache

	// The group-commit writer (batch.go).
	queue         chan *writeOp
	writerDone    chan struct{}
	submitMu      sync.RWMutex // held to queue; Close takes it to stop the writer
	writerStopped bool
	commits       atomic.Int64 // transactions the writer committed (or tried to)
	commitWrites  atomic.Int64 // writes in them
}

// Open opens (creating it with mode 0600 if needed) the SQLite database named
// by dsn with the default Options. See OpenWith.
func Open(ctx context.Context, dsn string) (*DB, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith opens the SQLite database named by dsn: a file path
// ("latchkey.db", "/var/lib/latchkey/latchkey.db"), a "sqlite://" URL whose
// rest is that path ("sqlite://latchkey.db" is ./latchkey.db,
// "sqlite:///var/lib/latchkey.db" is absolute), or an SQLite "file:" URI.
// In-memory databases are refused: the two pools could not share one.
//
// It does not create or migrate the schema; call Migrate for that.
func OpenWith(ctx context.Context, dsn string, opts Options) (*DB, error) {
	name, path, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}

	pragmas := fmt.Sprintf("PRAGMA foreign_keys=ON; PRAGMA synchronous=%s;", opts.Synchronous)
	w, err := driver.Open(name, func(c *sqlite3.Conn) error {
		if err := c.BusyTimeout(opts.BusyTimeout); err != nil {
			return err
		}
		// journal_size_limit: when a checkpoint lets the writer start the
		// WAL over, the file is cut back to this size, so a burst of writes
		// (a large purge) does not leave a WAL of its size behind.
		return c.Exec(pragmas + fmt.Sprintf(" PRAGMA journal_size_limit=%d;", walSizeLimit))
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// One writer connection, kept open for the life of the DB so the WAL and
	// shared-memory files (created 0600 above) are not deleted and recreated
	// with the process umask while serving.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	r, err := driver.Open(name, func(c *sqlite3.Conn) error {
		if err := c.BusyTimeout(opts.BusyTimeout); err != nil {
			return err
		}
		return c.Exec(pragmas + " PRAGMA query_only=ON;")
	})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(opts.Readers)
	r.SetMaxIdleConns(opts.Readers)

	db := &DB{w: w, r: r}
	// journal_mode is persistent in the file; setting it here also proves the
	// file is an SQLite database (a garbage file fails with SQLITE_NOTADB).
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
		err = db.wrap(ctx, "open "+path, err) // before Close, which makes every error ErrUnavailable
		db.Close()
		return nil, err
	}
	if !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: journal_mode is %q, want wal", path, mode)
	}
	// Opening a new, empty database deletes the WAL created above and SQLite
	// creates it again; now that the file has a header, that will not recur.
	if err := createPrivate(path); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	db.startWriter()
	return db, nil
}

// walSizeLimit is the size the WAL file is cut back to after a checkpoint
// (journal_size_limit).
const walSizeLimit = 64 << 20

func (o *Options) setDefaults() error {
	switch s := strings.ToUpper(o.Synchronous); s {
	case "":
		o.Synchronous = "FULL"
	case "OFF", "NORMAL", "FULL", "EXTRA":
		o.Synchronous = s
	default:
		return fmt.Errorf("sqlite: synchronous %q: want FULL, NORMAL, EXTRA or OFF", o.Synchronous)
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.Readers <= 0 {
		o.Readers = max(4, runtime.GOMAXPROCS(0))
	}
	return nil
}

// parseDSN returns the name handed to the driver and the file system path
// of the database.
func parseDSN(dsn string) (name, path string, err error) {
	bad := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("sqlite: database %q: %s", dsn, why)
	}
	if rest, ok := strings.CutPrefix(dsn, "sqlite://"); ok {
		p, query, hasQuery := strings.Cut(rest, "?")
		if hasQuery {
			// Hand the parameters to SQLite as a file: URI.
			dsn = "file:" + (&url.URL{Path: p}).EscapedPath() + "?" + query
		} else {
			dsn = p
		}
	}
	switch {
	case dsn == "":
		return bad("empty path")
	case strings.HasPrefix(dsn, "file:"):
		u, err := url.Parse(dsn)
		if err != nil {
			return bad(err.Error())
		}
		path = u.Path
		if path == "" {
			if path, err = url.PathUnescape(u.Opaque); err != nil {
				return bad(err.Error())
			}
		}
		if u.Query().Get("mode") == "memory" {
			return bad("in-memory databases are not supported")
		}
	default:
		path = dsn
	}
	if path == "" || path == ":memory:" {
		return bad("in-memory databases are not supported")
	}
	return dsn, path, nil
}

// createPrivate creates the database file with mode 0600 if it does not
// exist, because it holds password hashes, signing keys and the refresh-token
// secret (SQLite would create it 0666 minus umask). The WAL and shared-memory
// files are given the main file's permissions, as SQLite's own unix VFS does
// and the driver's Go VFS does not. Open calls it again once the database has
// a header, because SQLite deletes and recreates the WAL of an empty file.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrExist):
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file")
	}
	perm := fi.Mode().Perm()
	for _, suffix := range []string{"-wal", "-shm"} {
		f, err := os.OpenFile(path+suffix, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if err == nil {
			err = f.Close()
		} else if errors.Is(err, fs.ErrExist) {
			err = matchPerm(path+suffix, perm)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// matchPerm gives an existing file the permissions perm, if it has others.
func matchPerm(path string, perm fs.FileMode) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() == perm {
		return err
	}
	return os.Chmod(path, perm)
}

// Ping reports whether the database file can be read.
func (db *DB) Ping(ctx context.Context) error {
	var n int
	err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n)
	return db.wrap(ctx, "ping", err)
}

// Close closes both pools. Calls after Close fail with store.ErrUnavailable.
func (db *DB) Close() error {
	db.closed.Store(true)
	db.stopWriter()
	stmtErr := db.closeStmts()
	return errors.Join(stmtErr, db.r.Close(), db.w.Close())
}

// wrap names the operation and maps SQLite failures to the store's errors:
// uniqueness violations to ErrConflict; a busy or locked database, I/O
// errors, a full disk and a closed DB to ErrUnavailable (the request may
// succeed later). The driver stops a statement whose context ends with
// sqlite3.INTERRUPT (or, if it was waiting for a lock, sqlite3.BUSY), not
// with the context's error: such an error while ctx is done is
// ErrUnavailable wrapping ctx.Err() too, so callers see the cancellation or
// the deadline as they would from any other store (a client that hung up is
// not a server error). Anything else (a corrupt file, a bug) is wrapped as
// is.
func (db *DB) wrap(ctx context.Context, op string, err error) error {
	switch {
	case err == nil:
		return nil
	case (errors.Is(err, sqlite3.INTERRUPT) || errors.Is(err, sqlite3.BUSY)) && ctx.Err() != nil:
		return fmt.Errorf("sqlite: %s: %w: %w: %w", op, store.ErrUnavailable, ctx.Err(), err)
	case errors.Is(err, sqlite3.CONSTRAINT_UNIQUE), errors.Is(err, sqlite3.CONSTRAINT_PRIMARYKEY):
		return fmt.Errorf("sqlite: %s: %w: %w", op, store.ErrConflict, err)
	case errors.Is(err, sqlite3.BUSY), errors.Is(err, sqlite3.LOCKED),
		errors.Is(err, sqlite3.IOERR), errors.Is(err, sqlite3.CANTOPEN),
		errors.Is(err, sqlite3.FULL), errors.Is(err, sql.ErrConnDone),
		db.closed.Load():
		return fmt.Errorf("sqlite: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}
