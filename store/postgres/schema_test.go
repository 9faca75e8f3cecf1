package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// bareDatabase is a fresh database's URL without the search_path pgtest
// adds: what an application's DATABASE_URL looks like.
func bareDatabase(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(pgtest.FreshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String()
}

func execSQL(t *testing.T, dbURL, sql string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// tablesIn lists the tables of a schema.
func tablesIn(t *testing.T, dbURL, schema string) []string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(context.Background(), `SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename`, schema)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func migrate(t *testing.T, dbURL string, o postgres.Options) (*postgres.DB, error) {
	t.Helper()
	db := openDB(t, dbURL, o)
	return db, db.Migrate(context.Background())
}

// An application whose database already has its own users table (the
// bring-your-own-users case) migrates Latchkey beside it: Latchkey's
// tables go to schema latchkey, the application's table is untouched, and
// both work.
func TestMigrateBesideApplicationTables(t *testing.T) {
	dbURL := bareDatabase(t)
	execSQL(t, dbURL, `CREATE TABLE users (id serial PRIMARY KEY, login text NOT NULL, bcrypt text NOT NULL);
		INSERT INTO users (login, bcrypt) VALUES ('ann', '$2a$12$x')`)
	db, err := migrate(t, dbURL, postgres.Options{})
	if err != nil {
		t.Fatalf("migrate into a database with an application users table: %v", err)
	}
	mustCreateUser(t, db, activeUser("u1"))
	if _, err := db.UserByID(context.Background(), "u1"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tablesIn(t, dbURL, "latchkey"), ","); got != "dpop_jti,latchkey_schema_migrations,mail_queue,secrets,sessions,signing_keys,ssf_events,ssf_receivers,ssf_streams,user_tokens,users" {
		t.Fatalf("schema latchkey holds %s", got)
	}
	if got := strings.Join(tablesIn(t, dbURL, "public"), ","); got != "users" {
		t.Fatalf("schema public holds %s; want only the application's users", got)
	}
	var login string
	conn, _ := pgx.Connect(context.Background(), dbURL)
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), `SELECT login FROM public.users`).Scan(&login); err != nil || login != "ann" {
		t.Fatalf("the application's users table: %q %v", login, err)
	}
}

// Options.Schema names the schema; it must be a plain lower-case name.
func TestSchemaOption(t *testing.T) {
	dbURL := bareDatabase(t)
	if _, err := migrate(t, dbURL, postgres.Options{Schema: "auth_store"}); err != nil {
		t.Fatal(err)
	}
	if got := len(tablesIn(t, dbURL, "auth_store")); got != 11 {
		t.Fatalf("schema auth_store holds %d tables; want 11", got)
	}
	if got := tablesIn(t, dbURL, "latchkey"); len(got) != 0 {
		t.Fatalf("schema latchkey holds %v; want nothing", got)
	}
	for _, bad := range []string{"Auth", "a;drop", `"x"`, "a b", strings.Repeat("a", 64)} {
		if _, err := postgres.Open(context.Background(), dbURL, postgres.Options{Schema: bad}); err == nil {
			t.Errorf("schema %q accepted", bad)
		}
	}
}

// An install made before the schema option has its tables in public. Opened
// with the defaults, Migrate refuses to start an empty schema latchkey
// beside them (every session would silently be lost); with Schema "public"
// it goes on using them; after the move documented in docs/embedding.md,
// the defaults find them in latchkey, data and migration history intact.
func TestExistingInstallInPublic(t *testing.T) {
	dbURL := bareDatabase(t)
	ctx := context.Background()
	old, err := migrate(t, dbURL, postgres.Options{Schema: "public"}) // as installs were made before
	if err != nil {
		t.Fatal(err)
	}
	mustCreateUser(t, old, activeUser("u1"))
	old.Close()

	if _, err := migrate(t, dbURL, postgres.Options{}); !errors.Is(err, postgres.ErrTablesInPublic) ||
		!strings.Contains(err.Error(), "DATABASE_SCHEMA=public") {
		t.Fatalf("defaults over an install in public: %v; want postgres.ErrTablesInPublic saying what to do", err)
	}
	kept, err := migrate(t, dbURL, postgres.Options{Schema: "public"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kept.UserByID(ctx, "u1"); err != nil {
		t.Fatalf("Schema public: %v", err)
	}
	kept.Close()

	execSQL(t, dbURL, moveSQL(t))
	moved, err := migrate(t, dbURL, postgres.Options{})
	if err != nil {
		t.Fatalf("defaults after the documented move: %v", err)
	}
	if _, err := moved.UserByID(ctx, "u1"); err != nil {
		t.Fatalf("after the move: %v", err)
	}
	if got := tablesIn(t, dbURL, "public"); len(got) != 0 {
		t.Fatalf("public still holds %v after the move", got)
	}
	if err := moved.CreateUser(ctx, store.User{ID: "u2", Email: "u2@example.com", PasswordHash: "x", Status: store.UserActive,
		CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	// The security-event feed moved too, its sequence with it.
	mustCreateSession(t, moved, newSession("s1", "u1", t0), 0)
	if n, err := moved.RevokeSessions(ctx, store.RevokeParams{SessionID: "s1", Reason: "signed_out", Now: t0}); err != nil || n != 1 {
		t.Fatalf("revoke after the move: %d, %v", n, err)
	}
	if head, err := moved.FeedHead(ctx); err != nil || head != 1 {
		t.Fatalf("the feed after the move: head %d, %v; want the revocation's event", head, err)
	}
}

// moveSQL is the SQL block docs/embedding.md gives for moving an install's
// tables from public into schema latchkey: the test runs what the guide
// says.
func moveSQL(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/embedding.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- move-to-schema: begin -->")
	block, _, ok2 := strings.Cut(rest, "<!-- move-to-schema: end -->")
	_, sql, ok3 := strings.Cut(block, "```sql\n")
	sql, _, ok4 := strings.Cut(sql, "```")
	if !ok || !ok2 || !ok3 || !ok4 {
		t.Fatal("docs/embedding.md has no move-to-schema SQL block")
	}
	return sql
}
