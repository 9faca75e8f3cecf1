// Command embed is a small host application that embeds Latchkey: it keeps
// its own users in its own SQL table (accounts), mounts Latchkey under /auth
// for sign-in, refresh and sign-out, and protects its own /api/notes routes
// with Latchkey access tokens. docs/embedding.md walks through it.
//
//	go run ./examples/embed -addr 127.0.0.1:8081 -dir /tmp/embed
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3"
	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/sqlite"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	dir := flag.String("dir", ".", "directory of app.db and latchkey.db")
	flag.Parse()
	ctx := context.Background()
	a, err := newApp(ctx, *dir, "http://"+*addr, time.Now)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	if email, pw := os.Getenv("DEMO_EMAIL"), os.Getenv("DEMO_PASSWORD"); email != "" && pw != "" {
		if err := a.addAccount(ctx, email, pw); err != nil {
			log.Print(err)
		}
	}
	log.Printf("listening on http://%s (Latchkey under /auth)", *addr)
	log.Fatal(http.ListenAndServe(*addr, a.handler))
}

// app is the host application.
type app struct {
	db      *sql.DB    // the application's own database: accounts and notes
	lkStore *sqlite.DB // Latchkey's sessions and keys
	lk      *latchkey.Handler
	handler http.Handler
}

const schema = `
CREATE TABLE IF NOT EXISTS accounts (
	id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS notes (
	id INTEGER PRIMARY KEY, account_id TEXT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL);`

// newApp opens both databases and builds the routes. base is the URL clients
// use to reach the application (Latchkey's issuer is base + "/auth").
func newApp(ctx context.Context, dir, base string, now func() time.Time) (*app, error) {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "app.db")+"?_pragma=journal_mode(wal)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, err
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "latchkey.db"))
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		db.Close()
		st.Close()
		return nil, err
	}
	// The refresh-token secret: from the environment in production; here a
	// development secret kept in Latchkey's own database.
	secret, err := st.Secret(ctx, "refresh_token_secret", func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return nil, err
	}
	a := &app{db: db, lkStore: st}
	a.lk, err = latchkey.New(ctx, latchkey.Options{
		Store:         st,
		Users:         accounts{db},
		Issuer:        base + "/auth",
		Prefix:        "/auth",
		RefreshSecret: secret,
		Dialects:      []string{latchkey.Canonical, latchkey.OAuth2},
		Renew:         latchkey.AllowRenewal,
		Now:           now,
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Claims: func(ctx context.Context, userID string) (map[string]any, error) {
			return map[string]any{"app": "notes"}, nil
		},
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", a.lk)
	mux.Handle("GET /api/notes", a.lk.Middleware(http.HandlerFunc(a.listNotes)))
	mux.Handle("POST /api/notes", a.lk.Middleware(http.HandlerFunc(a.addNote)))
	a.handler = mux
	return a, nil
}

func (a *app) Close() {
	a.db.Close()
	a.lkStore.Close()
}

// addAccount creates an account in the application's own table (bcrypt, as
// an existing application might already have).
func (a *app) addAccount(ctx context.Context, email, pw string) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		return err
	}
	_, err = a.db.ExecContext(ctx, `INSERT INTO accounts (id, email, password_hash) VALUES (?, ?, ?)`,
		uuid.NewString(), auth.NormalizeEmail(email), string(hash))
	return err
}

// setActive (de)activates an account in the application's table.
func (a *app) setActive(ctx context.Context, id string, active bool) error {
	_, err := a.db.ExecContext(ctx, `UPDATE accounts SET active = ? WHERE id = ?`, active, id)
	return err
}

type note struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
}

func (a *app) listNotes(w http.ResponseWriter, r *http.Request) {
	p, _ := latchkey.PrincipalFrom(r.Context())
	rows, err := a.db.QueryContext(r.Context(), `SELECT id, body FROM notes WHERE account_id = ? ORDER BY id`, p.UserID)
	if err != nil {
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
		return
	}
	defer rows.Close()
	notes := []note{}
	for rows.Next() {
		var n note
		if rows.Scan(&n.ID, &n.Body) == nil {
			notes = append(notes, n)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"notes": notes})
}

func (a *app) addNote(w http.ResponseWriter, r *http.Request) {
	p, _ := latchkey.PrincipalFrom(r.Context())
	var in struct {
		Body string `json:"body"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil || strings.TrimSpace(in.Body) == "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_request","message":"body must be {\"body\": \"text\"}"}`)
		return
	}
	res, err := a.db.ExecContext(r.Context(), `INSERT INTO notes (account_id, body, created_at) VALUES (?, ?, ?)`,
		p.UserID, in.Body, time.Now().UTC().Format(time.RFC3339))
	if err != nil {
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
		return
	}
	id, _ := res.LastInsertId()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(note{ID: id, Body: in.Body})
}

// accounts is the application's users table as Latchkey's auth.Users.
type accounts struct{ db *sql.DB }

func (u accounts) one(ctx context.Context, where string, arg string) (store.User, error) {
	var (
		usr    store.User
		active bool
	)
	err := u.db.QueryRowContext(ctx, `SELECT id, email, password_hash, active FROM accounts WHERE `+where, arg).
		Scan(&usr.ID, &usr.Email, &usr.PasswordHash, &active)
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("account: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, err
	}
	usr.Status = store.UserInactive
	if active {
		usr.Status = store.UserActive
	}
	return usr, nil
}

func (u accounts) UserByEmail(ctx context.Context, email string) (store.User, error) {
	return u.one(ctx, "email = ?", email)
}

func (u accounts) UserByID(ctx context.Context, id string) (store.User, error) {
	return u.one(ctx, "id = ?", id)
}

func (u accounts) VerifyPassword(_ context.Context, usr store.User, pw string) (bool, error) {
	return bcrypt.CompareHashAndPassword([]byte(usr.PasswordHash), []byte(pw)) == nil, nil
}
