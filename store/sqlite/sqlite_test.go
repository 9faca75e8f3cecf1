package sqlite_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3/driver"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/sqlite"
	"github.com/latchkey-dev/latchkey/store/storetest"
)

var _ store.Store = (*sqlite.DB)(nil)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, sqlite.Options{}) })
}

// openTest opens a migrated database in a new file under t.TempDir.
func openTest(tb testing.TB, opts sqlite.Options) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.OpenWith(context.Background(), filepath.Join(tb.TempDir(), "latchkey.db"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}

func TestMigrateTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	for i := range 2 {
		db, err := sqlite.Open(t.Context(), "sqlite://"+path)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate #%d again: %v", i+1, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(path, []byte("this is not an SQLite database, not even close ........................................................................"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(t.Context(), path)
	if err == nil {
		db.Close()
		t.Fatal("Open on a garbage file succeeded")
	}
	if errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open on a garbage file: %v; a permanent failure must not be ErrUnavailable", err)
	}
	t.Log(err)
}

func TestOpenRefusesMemory(t *testing.T) {
	for _, dsn := range []string{"", ":memory:", "file::memory:", "file:x.db?mode=memory", "sqlite://"} {
		if db, err := sqlite.Open(t.Context(), dsn); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded, want an error", dsn)
		}
	}
}

func TestOpenForms(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, c := range []struct{ dsn, file string }{
		{"plain.db", "plain.db"},
		{"sqlite://url.db", "url.db"},
		{"sqlite://" + filepath.Join(dir, "abs.db"), "abs.db"},
		{"sqlite://query.db?_txlock=immediate", "query.db"},
		{"file:uri.db", "uri.db"},
		{"file:" + filepath.Join(dir, "absuri.db") + "?cache=private", "absuri.db"},
	} {
		db, err := sqlite.Open(t.Context(), c.dsn)
		if err != nil {
			t.Errorf("Open(%q): %v", c.dsn, err)
			continue
		}
		if err := db.Migrate(t.Context()); err != nil {
			t.Errorf("Migrate(%q): %v", c.dsn, err)
		}
		db.Close()
		fi, err := os.Stat(filepath.Join(dir, c.file))
		if err != nil {
			t.Errorf("Open(%q): %v", c.dsn, err)
			continue
		}
		if fi.Size() == 0 {
			t.Errorf("Open(%q) + Migrate left %s empty", c.dsn, c.file)
		}
	}
}

// TestFilesPrivate checks that the database and its WAL and shared-memory
// files are created readable by the owner only: they hold password hashes,
// signing keys and the refresh-token secret.
func TestFilesPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Secret(t.Context(), "s", func() ([]byte, error) { return []byte("x"), nil }); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Error(err)
			continue
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), perm)
		}
	}
}

func TestClosedIsUnavailable(t *testing.T) {
	db := openTest(t, sqlite.Options{})
	db.Close()
	if err := db.Ping(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping after Close: %v, want ErrUnavailable", err)
	}
	if _, err := db.Rotate(t.Context(), store.RotateParams{SessionID: "x"}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Rotate after Close: %v, want ErrUnavailable", err)
	}
}

func TestBadSynchronous(t *testing.T) {
	if db, err := sqlite.OpenWith(t.Context(), filepath.Join(t.TempDir(), "x.db"), sqlite.Options{Synchronous: "sometimes"}); err == nil {
		db.Close()
		t.Error("OpenWith(Synchronous: sometimes) succeeded")
	}
}

// TestBusyIsUnavailable holds the write lock from another connection, as the
// CLI in another process might, and checks that a write that cannot get it
// within BusyTimeout fails with ErrUnavailable rather than hanging or leaking
// a driver error.
func TestBusyIsUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	db, err := sqlite.OpenWith(t.Context(), path, sqlite.Options{BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	other, err := driver.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")

	err = db.CreateUser(t.Context(), store.User{ID: "u", Email: "u@example.com", PasswordHash: "x",
		Status: store.UserActive, CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(1, 0)})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("CreateUser while another connection writes: %v, want ErrUnavailable", err)
	}
	if _, err := db.Rotate(t.Context(), store.RotateParams{SessionID: "s", Now: time.Unix(2, 0)}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Rotate while another connection writes: %v, want ErrUnavailable", err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Errorf("Ping while another connection writes: %v; WAL readers are not blocked", err)
	}
}

// Migrating logs its progress (start, each step started and done, done,
// with durations), so a long upgrade is visible before serve listens; an
// up-to-date database logs nothing.
func TestMigrateLogsProgress(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "progress.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	if err := db.MigrateLogged(ctx, log); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct {
			Msg      string `json:"msg"`
			Version  int64  `json:"version"`
			Duration string `json:"duration"`
			To       int64  `json:"to_version"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if strings.HasSuffix(rec.Msg, "done") && rec.Duration == "" {
			t.Errorf("%q without a duration", line)
		}
		msgs = append(msgs, fmt.Sprintf("%s %d", rec.Msg, max(rec.Version, rec.To)))
	}
	files, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	var last int64
	for _, f := range files {
		v, err := strconv.ParseInt(strings.SplitN(f.Name(), "_", 2)[0], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("database migration: step started %d", v), fmt.Sprintf("database migration: step done %d", v))
		last = v
	}
	want = append(append([]string{fmt.Sprintf("database migration: starting %d", last)}, want...), "database migration: done 0")
	if !slices.Equal(msgs, want) {
		t.Errorf("migration log:\n%s\nwant\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
	logs.Reset()
	if err := db.MigrateLogged(ctx, log); err != nil || logs.Len() != 0 {
		t.Errorf("migrating an up-to-date database: %v, logged %q", err, logs.String())
	}
}

var _ store.Feed = (*sqlite.DB)(nil)

func TestFeedConformance(t *testing.T) {
	storetest.RunFeed(t, func(t *testing.T) store.Store { return openTest(t, sqlite.Options{}) })
}
