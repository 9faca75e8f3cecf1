// Package pgtest gives tests a PostgreSQL server to run against: the URL of
// the server named by LATCHKEY_TEST_POSTGRES_URL, and throwaway databases (or,
// cheaper, schemas) on it, one per test, dropped when the test ends.
//
// Without the variable, tests skip, except in CI (CI=true), where a missing
// database is a failure rather than a silently green run.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable holding the URL of a PostgreSQL
// server on which tests may create and drop databases, e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
const EnvURL = "LATCHKEY_TEST_POSTGRES_URL"

// URL returns the server URL from LATCHKEY_TEST_POSTGRES_URL. If it is unset
// the test is skipped, or failed when CI=true.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvURL + " not set: PostgreSQL tests cannot be skipped in CI")
		}
		t.Skip(EnvURL + " not set: skipping PostgreSQL tests")
	}
	return u
}

// FreshDatabase creates an empty database with a unique name
// (latchkey_test_<random>) on the server of URL and returns its URL, with
// search_path=latchkey: the schema a store opened on it uses (the default,
// postgres.DefaultSchema) and migrates into, so that a test's own
// connections see Latchkey's tables by their plain names. The database is
// dropped, with any connections still open to it, when the test and its
// subtests have finished.
func FreshDatabase(t testing.TB) string {
	t.Helper()
	return FreshDatabaseWith(t, "")
}

// FreshDatabaseWith is FreshDatabase with options appended to CREATE
// DATABASE, such as `TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE
// 'en-US' LOCALE 'C.UTF-8'` for a database whose collation is not byte
// order.
func FreshDatabaseWith(t testing.TB, options string) string {
	t.Helper()
	server := URL(t)
	u := parse(t, server)
	name := uniqueName(t)
	// The name is ours (hex digits), so quoting it is enough.
	if err := exec(server, `CREATE DATABASE "`+name+`" `+options); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := exec(server, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	q := u.Query()
	q.Set("search_path", "latchkey") // postgres.DefaultSchema (pgtest must not import postgres)
	u.RawQuery = q.Encode()
	return u.String()
}

// FreshSchema creates an empty schema with a unique name in the database of
// URL and returns a URL whose connections use it (search_path=<schema>). The
// schema and everything in it are dropped when the test ends. It costs a few
// milliseconds where FreshDatabase costs a few hundred, so it suits suites
// that want a clean store per case; what the schemas share is the database's
// advisory locks and roles.
func FreshSchema(t testing.TB) string {
	t.Helper()
	server := URL(t)
	u := parse(t, server)
	name := uniqueName(t)
	if err := exec(server, `CREATE SCHEMA "`+name+`"`); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := exec(server, `DROP SCHEMA IF EXISTS "`+name+`" CASCADE`); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", name, err)
		}
	})
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// uniqueName returns latchkey_test_ and 16 random hex digits.
func uniqueName(t testing.TB) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "latchkey_test_" + hex.EncodeToString(b[:])
}

func parse(t testing.TB, server string) *url.URL {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest: %s must be a postgres:// URL", EnvURL)
	}
	return u
}

// exec runs one statement on its own connection to server.
func exec(server, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// HoldAdvisoryLock takes the transaction-scoped advisory lock (key, 0) in
// the database of dbURL on a connection of its own, as another instance
// would, and holds it until release is called or the test ends. It returns
// that connection (to look at pg_locks with) and release.
func HoldAdvisoryLock(t testing.TB, dbURL string, key int64) (holder *pgx.Conn, release func()) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	tx, err := c.Begin(ctx)
	if err == nil {
		_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, key)
	}
	if err != nil {
		c.Close(ctx)
		t.Fatalf("pgtest: take advisory lock %#x: %v", key, err)
	}
	release = func() { _ = tx.Rollback(ctx) }
	t.Cleanup(func() { release(); c.Close(ctx) })
	return c, release
}
