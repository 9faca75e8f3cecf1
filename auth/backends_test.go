package auth_test

import (
	"path/filepath"
	"testing"

	"github.com/latchkey-dev/latchkey/auth/authtest"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
	"github.com/latchkey-dev/latchkey/store/sqlite"
)

// The refresh policy holds on both backends.
func TestPolicySQLite(t *testing.T) {
	authtest.RunPolicy(t, func(t *testing.T) store.Store { return openSQLite(t) })
}
func TestPolicyPostgres(t *testing.T) { authtest.RunPolicy(t, openPostgres) }

// openSQLite returns a migrated SQLite store in a new file.
func openSQLite(t testing.TB) store.Store {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

// openPostgres returns a migrated PostgreSQL store in a fresh schema (the
// test skips without LATCHKEY_TEST_POSTGRES_URL, see pgtest).
func openPostgres(t *testing.T) store.Store {
	t.Helper()
	db, err := postgres.Open(t.Context(), pgtest.FreshSchema(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}
