package main

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// DATABASE_SCHEMA puts the binary's tables in the schema it names; unset,
// they go to schema latchkey, and an install whose tables are in public
// (made before the setting) gets a migrate error saying what to set.
func TestDatabaseSchema(t *testing.T) {
	u, err := url.Parse(pgtest.FreshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery = "sslmode=disable"
	db := u.String()
	count := func(schema string) int {
		conn, err := pgx.Connect(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if code, out, errs := cli(t, "", "migrate", "--database-url", db, "--database-schema", "public"); code != 0 || !strings.Contains(out, "migrations applied") {
		t.Fatalf("migrate into public: %d %s %s", code, out, errs)
	}
	// users, sessions, signing_keys, secrets, the migrations' table, the
	// security-event feed's ssf_events, ssf_receivers and ssf_streams, and
	// the password lifecycle's user_tokens and mail_queue, and dpop_jti.
	const tables = 11
	if n := count("public"); n != tables {
		t.Fatalf("public holds %d tables; want Latchkey's %d", n, tables)
	}
	code, _, errs := cli(t, "", "migrate", "--database-url", db)
	if code == 0 || !strings.Contains(errs, "DATABASE_SCHEMA=public") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("migrate with the default schema over an install in public: %d %q; want one line naming DATABASE_SCHEMA=public", code, errs)
	}
	if code, out, errs := cli(t, "", "migrate", "--database-url", db, "--database-schema", "tokens"); code != 0 || !strings.Contains(out, "migrations applied") {
		t.Fatalf("migrate into tokens: %d %s %s", code, out, errs)
	}
	if n := count("tokens"); n != tables {
		t.Fatalf("schema tokens holds %d tables; want %d", n, tables)
	}
}
