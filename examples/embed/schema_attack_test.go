package main

import (
	"context"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
)

// attack: an application that keeps its tables in a schema of its own
// names it in its DATABASE_URL (?search_path=notes). The example hands that
// same URL to Latchkey, and Latchkey takes a URL's search_path as its
// schema: its migration met the application's users table in notes,
// "relation users already exists", the embedding failure DATABASE_SCHEMA prevents, again for every
// application with a search_path in its URL. The example must give
// Latchkey its schema explicitly.
func TestApplicationSchemaInURL(t *testing.T) {
	db := backends[1].url(t)
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `CREATE SCHEMA notes`); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(db)
	q := u.Query()
	q.Set("search_path", "notes")
	u.RawQuery = q.Encode()
	e := start(t, u.String())
	if _, err := e.app.users.add(context.Background(), "ann@example.com", "correct horse", "pro"); err != nil {
		t.Fatal(err)
	}
	var apps, latchkeys int
	if err := conn.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM notes.users),
		(SELECT count(*) FROM pg_tables WHERE schemaname = 'latchkey' AND tablename = 'sessions')`).Scan(&apps, &latchkeys); err != nil {
		t.Fatal(err)
	}
	if apps != 1 || latchkeys != 1 {
		t.Fatalf("notes.users has %d rows (want 1); latchkey.sessions exists: %d (want 1)", apps, latchkeys)
	}
}
