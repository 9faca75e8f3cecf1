package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3"

	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// latchkey purge never migrates: on a database without the schema, or with a
// schema this build does not know, it refuses with a clear error and leaves
// the database as it was; on a migrated one it purges.
func TestPurgeNeverMigrates(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "l.db")
		url := "sqlite://" + path
		checkPurgeNeverMigrates(t, url, func(q string) (int64, error) {
			db, err := sql.Open("sqlite3", "file:"+path)
			if err != nil {
				return 0, err
			}
			defer db.Close()
			if strings.HasPrefix(q, "SELECT") {
				var n int64
				err := db.QueryRow(q).Scan(&n)
				return n, err
			}
			_, err = db.Exec(q)
			return 0, err
		}, "sqlite_master WHERE type = 'table' AND name = 'goose_db_version'", "goose_db_version")
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.FreshDatabase(t)
		checkPurgeNeverMigrates(t, url, func(q string) (int64, error) {
			conn, err := pgx.Connect(context.Background(), url)
			if err != nil {
				return 0, err
			}
			defer conn.Close(context.Background())
			if strings.HasPrefix(q, "SELECT") {
				var n int64
				err := conn.QueryRow(context.Background(), q).Scan(&n)
				return n, err
			}
			_, err = conn.Exec(context.Background(), q)
			return 0, err
		}, "pg_tables WHERE tablename = 'latchkey_schema_migrations'", "latchkey_schema_migrations")
	})
}

// checkPurgeNeverMigrates runs the case on one backend: query runs SQL on
// the database directly, versionTable is where the count of the version
// table is found, table is goose's version table.
func checkPurgeNeverMigrates(t *testing.T, url string, query func(string) (int64, error), versionTable, table string) {
	t.Helper()
	db := "--database-url=" + url
	code, out, errs := cli(t, "", "purge", db)
	if code == 0 || !strings.Contains(errs, "purge: the database has no Latchkey schema") || !strings.Contains(errs, "latchkey migrate") {
		t.Fatalf("purge on an empty database: %d %q %q; want a refusal naming latchkey migrate", code, out, errs)
	}
	if n, err := query("SELECT count(*) FROM " + versionTable); err != nil || n != 0 {
		t.Fatalf("purge created the version table (%d, %v): it migrated", n, err)
	}
	if code, _, errs := cli(t, "", "migrate", db); code != 0 {
		t.Fatalf("migrate: %s", errs)
	}
	if code, out, errs := cli(t, "", "purge", db); code != 0 || !strings.Contains(out, "purged 0 sessions") {
		t.Fatalf("purge on a migrated database: %d %q %q", code, out, errs)
	}
	// A newer Latchkey's migration, unknown to this build.
	if _, err := query("INSERT INTO " + table + " (version_id, is_applied) VALUES (9999, true)"); err != nil {
		t.Fatal(err)
	}
	code, _, errs = cli(t, "", "purge", db)
	if code == 0 || !strings.Contains(errs, "schema is at version 9999, newer than this latchkey knows") {
		t.Fatalf("purge on a newer schema: %d %q; want a refusal", code, errs)
	}
	// An older one: the newest migration undone.
	if _, err := query("DELETE FROM " + table + " WHERE version_id >= (SELECT max(version_id) FROM " + table + " WHERE version_id < 9999)"); err != nil {
		t.Fatal(err)
	}
	code, _, errs = cli(t, "", "purge", db)
	if code == 0 || !strings.Contains(errs, "this latchkey needs") || !strings.Contains(errs, "latchkey migrate") {
		t.Fatalf("purge on an older schema: %d %q; want a refusal", code, errs)
	}
}
