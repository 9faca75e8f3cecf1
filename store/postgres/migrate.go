package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/latchkey-dev/latchkey/internal/migrate"
	"github.com/latchkey-dev/latchkey/store"
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

// Migrate applies the embedded migrations that the database lacks, in the
// DB's schema (Options.Schema), which it creates if needed. Instances
// starting at once may all call it: each first waits for a PostgreSQL
// advisory lock, so the migrations run exactly once and the others then find
// nothing to do. It returns store.ErrUnavailable if the database cannot be
// reached; ctx bounds the wait for the lock.
//
// The lock is taken on a connection of its own, outside the pool, for the
// whole of goose's work. goose's session lockers cover less: Provider.Up
// first checks for pending migrations without the lock, creating its version
// table if missing, and instances racing there retry on a one-second timer
// (and its lock.NewPostgresSessionLocker polls pg_try_advisory_lock every few
// seconds). The blocking pg_advisory_lock wakes the next instance the moment
// the lock is released, and a lock held by a session dies with it, so a
// crashed migrator never leaves the database locked.
func (db *DB) Migrate(ctx context.Context) error { return db.MigrateLogged(ctx, nil) }

// MigrateLogged is Migrate, logging its progress to log (nil: nothing):
// start, each step, done, with durations (internal/migrate).
func (db *DB) MigrateLogged(ctx context.Context, log *slog.Logger) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	lockConn, err := pgx.ConnectConfig(ctx, db.adminConfig())
	if err != nil {
		return wrap("migrate: connect for the migration lock", err)
	}
	// Closing the session releases the lock, whatever happened.
	defer lockConn.Close(context.WithoutCancel(ctx))
	if _, err := lockConn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockID); err != nil {
		return wrap("migrate: take the migration lock", err)
	}
	if err := db.prepareSchema(ctx, lockConn); err != nil {
		return err
	}

	sqlDB := stdlib.OpenDB(*db.adminConfig()) // no statement_timeout: a migration may take long
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys, goose.WithTableName(migrationTable),
		// Versions are reserved per change and may land out of order: a
		// database at a later version still gets an earlier one it misses.
		goose.WithAllowOutofOrder(true))
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if err := migrate.Up(ctx, provider, log, "postgres"); err != nil {
		return wrap("migrate", err)
	}
	return nil
}

// CheckSchema returns nil when every migration of this build, and no other,
// is applied, else a *store.SchemaError. It never writes (no version table is
// created, no lock taken): commands that must not migrate (latchkey purge)
// call it instead of Migrate.
func (db *DB) CheckSchema(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: check schema: %w", err)
	}
	known, err := store.MigrationVersions(fsys)
	if err != nil {
		return fmt.Errorf("postgres: check schema: %w", err)
	}
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, migrationTable).Scan(&exists); err != nil {
		return wrap("check schema", err)
	}
	applied := map[int64]bool{}
	if exists {
		// goose appends a row per step; a later row of a version wins.
		rows, err := db.pool.Query(ctx, `SELECT version_id, is_applied FROM `+migrationTable+` ORDER BY id`)
		if err != nil {
			return wrap("check schema", err)
		}
		defer rows.Close()
		for rows.Next() {
			var v int64
			var ok bool
			if err := rows.Scan(&v, &ok); err != nil {
				return wrap("check schema", err)
			}
			applied[v] = ok
		}
		if err := rows.Err(); err != nil {
			return wrap("check schema", err)
		}
	}
	return store.CompareSchema(applied, known)
}
