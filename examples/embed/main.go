// Command embed is a small notes application that embeds Latchkey. It keeps
// its own users in its own users table, on SQLite or PostgreSQL, serves
// Latchkey's sign-in, refresh and sign-out routes beside its own, and
// protects its /api routes with Latchkey access tokens. docs/embedding.md
// walks through it.
//
//	go run ./examples/embed -db sqlite:///tmp/notes.db         # Latchkey in /tmp/notes.latchkey.db
//	go run ./examples/embed -db postgres://app@localhost/notes # Latchkey in schema latchkey
//
// DEMO_EMAIL and DEMO_PASSWORD, when set, add an account at start.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"       // database/sql driver "pgx"
	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3"
	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/store/backend"
	"github.com/latchkey-dev/latchkey/store/postgres"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	db := flag.String("db", "sqlite://notes.db", "the application's database: sqlite://path or postgres://…")
	flag.Parse()
	ctx := context.Background()
	a, err := newApp(ctx, config{DB: *db, BaseURL: "http://" + *addr, BcryptCost: bcrypt.DefaultCost})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	if email, pw := os.Getenv("DEMO_EMAIL"), os.Getenv("DEMO_PASSWORD"); email != "" && pw != "" {
		if _, err := a.users.add(ctx, email, pw, "pro"); err != nil {
			log.Print(err)
		}
	}
	log.Printf("listening on http://%s", *addr)
	log.Fatal(http.ListenAndServe(*addr, a.handler))
}

// config is what newApp needs; tests inject a clock and cheap hashes.
type config struct {
	DB         string           // sqlite://path or postgres://…
	BaseURL    string           // how clients reach the application; Latchkey's issuer
	BcryptCost int              // of the application's password hashes
	Now        func() time.Time // nil: time.Now
}

// app is the host application.
type app struct {
	db      *sql.DB       // the application's own tables: users and notes
	st      backend.Store // Latchkey's tables: sessions and signing keys
	users   accounts
	lk      *latchkey.Handler
	handler http.Handler
}

// schema is the application's own: a users table named users, as an
// existing application would have it. On PostgreSQL, Latchkey's tables live
// in schema latchkey of the same database, so they never meet.
const schema = `
CREATE TABLE IF NOT EXISTS users (
	id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
	active BOOLEAN NOT NULL DEFAULT TRUE, plan TEXT NOT NULL DEFAULT 'free');
CREATE TABLE IF NOT EXISTS notes (
	id TEXT PRIMARY KEY, user_id TEXT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL);`

// newApp opens the application's database and Latchkey's store, and mounts
// both route sets on one mux.
func newApp(ctx context.Context, c config) (*app, error) {
	appDB, lkURL, err := databases(c.DB)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(appDB.driver, appDB.dsn)
	if err != nil {
		return nil, err
	}
	a := &app{db: db}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		a.Close()
		return nil, fmt.Errorf("application schema: %w", err)
	}
	if a.users, err = newAccounts(db, c.BcryptCost); err != nil {
		a.Close()
		return nil, err
	}
	// Latchkey's schema is named, not left to the URL: the application's URL
	// may set a search_path of its own (its schema, where its users table
	// is), which Latchkey would otherwise take as its schema.
	if a.st, err = backend.Open(ctx, lkURL, backend.Options{Postgres: postgres.Options{Schema: postgres.DefaultSchema}}); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.st.Migrate(ctx); err != nil {
		a.Close()
		return nil, fmt.Errorf("latchkey migrations: %w", err)
	}
	secret, err := refreshSecret(ctx, a.st)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.lk, err = latchkey.New(ctx, latchkey.Options{
		Store:         a.st,
		Users:         a.users,
		Issuer:        c.BaseURL, // no Prefix: Latchkey's paths are used as they are (/auth/sign-in, /oauth/token, /token)
		RefreshSecret: secret,
		Dialects:      []string{latchkey.Canonical, latchkey.OAuth2},
		Renew:         latchkey.AllowRenewal,
		Now:           c.Now,
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Claims:        a.users.claims, // the user's plan, read by the API from p.Claims.Extra
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", a.lk) // Latchkey's routes (docs/api.md), and a JSON 404 for any other path
	mux.Handle("GET /api/notes", a.lk.Middleware(http.HandlerFunc(a.listNotes)))
	mux.Handle("POST /api/notes", a.lk.Middleware(http.HandlerFunc(a.addNote)))
	mux.Handle("GET /api/me", a.lk.Middleware(http.HandlerFunc(a.me)))
	a.handler = mux
	return a, nil
}

type database struct{ driver, dsn string }

// databases returns the application's database and Latchkey's store URL
// for -db. PostgreSQL: one database for both (Latchkey's tables in schema
// latchkey). SQLite has no schemas: Latchkey gets a file of its own next to
// the application's.
func databases(url string) (database, string, error) {
	switch {
	case strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://"):
		return database{"pgx", url}, url, nil
	case strings.HasPrefix(url, "sqlite://"):
		path := strings.TrimPrefix(url, "sqlite://")
		lk := strings.TrimSuffix(path, ".db") + ".latchkey.db"
		return database{"sqlite3", "file:" + path + "?_pragma=journal_mode(wal)&_pragma=busy_timeout(5000)"}, "sqlite://" + lk, nil
	}
	return database{}, "", errors.New("-db: want sqlite://path or postgres://…")
}

// refreshSecret is LATCHKEY_REFRESH_SECRET, or in development a random
// secret made once and kept in Latchkey's store (every instance agrees).
func refreshSecret(ctx context.Context, st backend.Store) ([]byte, error) {
	if s := os.Getenv("LATCHKEY_REFRESH_SECRET"); s != "" {
		return []byte(s), nil
	}
	return st.Secret(ctx, "refresh_token_secret", func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
}

// Close stops Latchkey's background jobs, then closes both databases.
func (a *app) Close() {
	if a.lk != nil {
		a.lk.Close()
	}
	if a.st != nil {
		a.st.Close()
	}
	a.db.Close()
}
