package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationTable is goose's version table. It is named after Latchkey, not
// goose's default, so that an application sharing the database can run its
// own goose migrations beside ours.
const migrationTable = "latchkey_schema_migrations"

// migrateLockID is the session-level advisory lock held while migrating. It
// is Latchkey's own (not goose's default id) for the same reason.
const migrateLockID int64 = 0x4c4b4d31 // "LKM1"

// Migrate applies the embedded migrations that the database lacks. Instances
// starting at once all may call it: each waits for a PostgreSQL advisory lock
// (held on one connection for the whole run), so the migrations run exactly
// once and the others then find nothing to do. It returns
// store.ErrUnavailable if the database cannot be reached; ctx bounds the wait
// for the lock.
func (db *DB) Migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	sqlDB := stdlib.OpenDBFromPool(db.pool)
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys,
		goose.WithTableName(migrationTable),
		goose.WithSessionLocker(advisoryLocker{id: migrateLockID}),
	)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return wrap("migrate", err)
	}
	return nil
}

// advisoryLocker is a goose SessionLocker that waits on pg_advisory_lock.
// goose's own lock.NewPostgresSessionLocker polls pg_try_advisory_lock every
// few seconds (one second at the least), so a second instance would sleep
// for seconds after the first had finished; the blocking call wakes it the
// moment the lock is released, and the context still bounds the wait (pgx
// cancels the query when ctx is done). The lock belongs to the database
// session, so it is released even if the process dies mid-migration.
type advisoryLocker struct{ id int64 }

func (l advisoryLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	_, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, l.id)
	if err != nil {
		return fmt.Errorf("acquire migration lock: %w", err)
	}
	return nil
}

func (l advisoryLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var released bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1)`, l.id).Scan(&released); err != nil {
		return fmt.Errorf("release migration lock: %w", err)
	}
	if !released {
		return fmt.Errorf("release migration lock: lock %d was not held", l.id)
	}
	return nil
}
