package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// t0 is the tests' clock: every time is derived from it, nothing sleeps.
var t0 = time.Date(2026, 11, 21, 9, 30, 0, 123456789, time.UTC)

// openDB opens a DB on dbURL and closes it when the test ends.
func openDB(t testing.TB, dbURL string, opts postgres.Options) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), dbURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// migratedDB returns the URL of a fresh, migrated schema (a schema rather
// than a database because it is a hundred times cheaper; the tests of
// Migrate itself use whole databases).
func migratedDB(t testing.TB) string {
	t.Helper()
	u := pgtest.FreshSchema(t)
	db, err := postgres.Open(context.Background(), u, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return u
}

func activeUser(id string) store.User {
	return store.User{
		ID: id, Email: id + "@example.com", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		Status: store.UserActive, CreatedAt: t0, UpdatedAt: t0,
	}
}

func newSession(id, userID string, at time.Time) store.Session {
	return store.Session{
		ID: id, UserID: userID, CreatedAt: at, LastRefreshedAt: at,
		RefreshExpiresAt: at.Add(24 * time.Hour), AbsoluteExpiresAt: at.Add(720 * time.Hour),
		ClientID: "web", UserAgent: "test", IP: "192.0.2.1",
	}
}

func mustCreateUser(t testing.TB, db *postgres.DB, u store.User) {
	t.Helper()
	if err := db.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
}

func mustCreateSession(t testing.TB, db *postgres.DB, s store.Session, max int) []string {
	t.Helper()
	evicted, err := db.CreateSession(context.Background(), s, max)
	if err != nil {
		t.Fatal(err)
	}
	return evicted
}
