package auth_test

import (
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/ncruces/go-sqlite3/driver"

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

func TestPolicyPostgres(t *testing.T) {
	authtest.RunPolicy(t, func(t *testing.T) store.Store { st, _ := openPostgres(t); return st })
}

// backend opens a migrated store, with a switch that makes the database
// refuse every revocation (a trigger on sessions.revoked_at): a way to make
// a store operation fail half way without touching the code under test.
type backend struct {
	name string
	open func(t *testing.T) (st store.Store, refuseRevocations func(on bool))
}

var backends = []backend{
	{"SQLite", func(t *testing.T) (store.Store, func(bool)) {
		path := filepath.Join(t.TempDir(), "auth.db")
		return openSQLiteAt(t, path), func(on bool) {
			execSQLite(t, path, map[bool]string{
				true:  `CREATE TRIGGER refuse_revocation BEFORE UPDATE OF revoked_at ON sessions BEGIN SELECT RAISE(ABORT, 'revocation refused by the test'); END`,
				false: `DROP TRIGGER refuse_revocation`,
			}[on])
		}
	}},
	{"PostgreSQL", func(t *testing.T) (store.Store, func(bool)) {
		st, url := openPostgres(t)
		return st, func(on bool) {
			execPostgres(t, url, map[bool]string{
				true: `CREATE FUNCTION refuse_revocation() RETURNS trigger LANGUAGE plpgsql
					AS $$ BEGIN RAISE EXCEPTION 'revocation refused by the test'; END $$;
					CREATE TRIGGER refuse_revocation BEFORE UPDATE OF revoked_at ON sessions
					FOR EACH ROW EXECUTE FUNCTION refuse_revocation()`,
				false: `DROP TRIGGER refuse_revocation ON sessions; DROP FUNCTION refuse_revocation()`,
			}[on])
		}
	}},
}

// openSQLite returns a migrated SQLite store in a new file.
func openSQLite(t testing.TB) store.Store {
	return openSQLiteAt(t, filepath.Join(t.TempDir(), "auth.db"))
}

func openSQLiteAt(t testing.TB, path string) store.Store {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

// execSQLite runs statements on a connection of its own to the file.
func execSQLite(t testing.TB, path, statements string) {
	t.Helper()
	db, err := driver.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), statements); err != nil {
		t.Fatal(err)
	}
}

// openPostgres returns a migrated PostgreSQL store in a fresh schema, and
// the URL of that schema (the test skips without LATCHKEY_TEST_POSTGRES_URL,
// see pgtest).
func openPostgres(t *testing.T) (store.Store, string) {
	t.Helper()
	url := pgtest.FreshSchema(t)
	db, err := postgres.Open(t.Context(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db, url
}

// execPostgres runs statements on a connection of its own to url.
func execPostgres(t testing.TB, url, statements string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), statements); err != nil {
		t.Fatal(err)
	}
}
