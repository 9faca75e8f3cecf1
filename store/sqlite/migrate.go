package sqlite

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"

	"github.com/latchkey-dev/latchkey/internal/migrate"
	"github.com/latchkey-dev/latchkey/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies every migration not yet applied, in order; it is a no-op on
// an up-to-date database. Goose records the applied versions in its own table
// (goose_db_version) in the same file.
func (db *DB) Migrate(ctx context.Context) error { return db.MigrateLogged(ctx, nil) }

// MigrateLogged is Migrate, logging its progress to log (nil: nothing):
// start, each step, done, with durations (internal/migrate).
func (db *DB) MigrateLogged(ctx context.Context, log *slog.Logger) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	// The writer pool: migrations write, and its single connection is what
	// keeps writes serial.
	p, err := goose.NewProvider(goose.DialectSQLite3, db.w, fsys,
		// Versions are reserved per change and may land out of order: a
		// database at a later version still gets an earlier one it misses.
		goose.WithAllowOutofOrder(true))
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if err := migrate.Up(ctx, p, log, "sqlite"); err != nil {
		return db.wrap(ctx, "migrate", err)
	}
	return nil
}

// CheckSchema returns nil when every migration of this build, and no other,
// is applied, else a *store.SchemaError. It never writes: commands that must
// not migrate (latchkey purge) call it instead of Migrate.
func (db *DB) CheckSchema(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: check schema: %w", err)
	}
	known, err := store.MigrationVersions(fsys)
	if err != nil {
		return fmt.Errorf("sqlite: check schema: %w", err)
	}
	var tables int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, goose.DefaultTablename).Scan(&tables); err != nil {
		return db.wrap(ctx, "check schema", err)
	}
	applied := map[int64]bool{}
	if tables > 0 {
		// goose appends a row per step; a later row of a version wins.
		rows, err := db.r.QueryContext(ctx, `SELECT version_id, is_applied FROM `+goose.DefaultTablename+` ORDER BY id`)
		if err != nil {
			return db.wrap(ctx, "check schema", err)
		}
		defer rows.Close()
		for rows.Next() {
			var v int64
			var ok bool
			if err := rows.Scan(&v, &ok); err != nil {
				return db.wrap(ctx, "check schema", err)
			}
			applied[v] = ok
		}
		if err := rows.Err(); err != nil {
			return db.wrap(ctx, "check schema", err)
		}
	}
	return store.CompareSchema(applied, known)
}
