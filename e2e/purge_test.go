package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3/driver"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
	"github.com/latchkey-dev/latchkey/store/sqlite"
)

// TestPurgeWhileServing runs `latchkey purge` (the binary, a process of its
// own) against the database an instance is serving from, on both backends,
// while a client refreshes through the instance in a loop. Revoked and
// expired sessions are deleted; live ones, the one being refreshed and an
// idle one, are untouched, and no refresh fails.
func TestPurgeWhileServing(t *testing.T) {
	for _, backend := range []struct {
		name  string
		dbURL func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "latchkey.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.FreshDatabase(t) }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			settings := scaleOutSettings(backend.dbURL(t), "10s")
			a := e2etest.StartServer(t, settings)
			c := &http.Client{Timeout: 10 * time.Second}

			busyAccess, busyRefresh := signIn(t, c, a, "busy@example.com")
			idleAccess, _ := signIn(t, c, a, "idle@example.com")
			revokedAccess, _ := signIn(t, c, a, "revoked@example.com")
			mustCall(t, c, "POST", a.URL+"/auth/sign-out", map[string]string{"scope": "local"}, revokedAccess, http.StatusNoContent)
			busy, idle, revoked := sessionOf(t, busyAccess), sessionOf(t, idleAccess), sessionOf(t, revokedAccess)
			expired := addExpiredSession(t, settings["DATABASE_URL"], busy)

			// Refresh through A, in a loop, until purge has finished.
			done := make(chan struct{})
			var wg sync.WaitGroup
			var refreshes int
			var refreshErr error
			wg.Go(func() {
				tok := busyRefresh
				for {
					select {
					case <-done:
						return
					default:
					}
					r, err := call(c, "POST", a.URL+"/token", map[string]string{"refreshToken": tok}, "")
					if err == nil && r.status != http.StatusOK {
						err = fmt.Errorf("%d %s", r.status, r.raw)
					}
					if err != nil {
						refreshErr = err
						return
					}
					tok = r.str("refreshToken")
					refreshes++
				}
			})
			out := e2etest.RunCLI(t, settings, "purge")
			close(done)
			wg.Wait()
			if refreshErr != nil {
				t.Fatalf("a refresh failed while purge ran: %v", refreshErr)
			}
			t.Logf("latchkey purge: %q, while A served %d refreshes", strings.TrimSpace(out), refreshes)
			if first, _, _ := strings.Cut(out, "\n"); first != "purged 2 sessions" {
				t.Errorf("purge printed %q; want \"purged 2 sessions\" first (the revoked one and the expired one)", out)
			}

			if path, ok := strings.CutPrefix(settings["DATABASE_URL"], "sqlite://"); ok {
				// docs/infrastructure.md says the file is private to its owner.
				if fi, err := os.Stat(path); err != nil {
					t.Error(err)
				} else if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v; want 0600", path, fi.Mode().Perm())
				}
			}
			st := openStore(t, settings["DATABASE_URL"])
			for _, id := range []string{revoked.id, expired} {
				if _, err := st.Session(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("session %s after purge: %v; want deleted", id, err)
				}
			}
			for _, s := range []sessionRef{busy, idle} {
				got, err := st.Session(context.Background(), s.id)
				if err != nil || got.Revoked() {
					t.Errorf("live session %s after purge: %+v, %v; want untouched", s.id, got, err)
				}
			}
		})
	}
}

// sessionRef names a session and its user, read from an access token.
type sessionRef struct{ id, userID string }

// sessionOf reads sid and sub from an access token (unverified: the test
// only needs the ids).
func sessionOf(t *testing.T, access string) sessionRef {
	t.Helper()
	var c struct{ SID, Sub string }
	if testkit.Claims(t, access, &c); c.SID == "" {
		t.Fatalf("no sid in %q", access)
	}
	return sessionRef{id: c.SID, userID: c.Sub}
}

// openStore opens the database of dbURL the way the binary does (for the
// test's own reads and writes), closed when the test ends.
func openStore(t *testing.T, dbURL string) store.Store {
	t.Helper()
	var (
		st  store.Store
		err error
	)
	if strings.HasPrefix(dbURL, "sqlite:") {
		st, err = sqlite.Open(context.Background(), dbURL)
	} else {
		st, err = postgres.Open(context.Background(), dbURL, postgres.Options{MaxConns: 2})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// addExpiredSession stores a session of like's user whose refresh expiry
// passed a day ago (the binary runs on the wall clock, and the test does not
// wait a day), and returns its id.
func addExpiredSession(t *testing.T, dbURL string, like sessionRef) string {
	t.Helper()
	st := openStore(t, dbURL)
	created := time.Now().Add(-48 * time.Hour)
	s := store.Session{ID: "expired-" + like.id, UserID: like.userID, Generation: 1, CreatedAt: created,
		LastRefreshedAt: created, RefreshExpiresAt: created.Add(24 * time.Hour), AbsoluteExpiresAt: created.Add(720 * time.Hour)}
	if _, err := st.CreateSession(context.Background(), s, 0); err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// TestPurgeLargeBacklogWhileServing: `latchkey purge` of a large SQLite
// backlog (100,000 expired sessions), a process of its own, while clients
// refresh through a serving instance. No refresh fails, the purge deletes
// the backlog, and the WAL is back under a megabyte afterwards. The purge
// deletes in bounded chunks and pauses between them as long as each held
// the write lock, so the server's writer gets the lock between two chunks;
// the worst refresh latency during the purge is logged (docs/performance.md
// keeps the figures). One DELETE of the whole backlog used to hold the lock
// for seconds, fail refreshes with "database is locked", and leave a WAL of
// the deletion's size until the server restarted.
func TestPurgeLargeBacklogWhileServing(t *testing.T) {
	const backlog, clients = 100_000, 4
	path := filepath.Join(t.TempDir(), "latchkey.db")
	settings := scaleOutSettings("sqlite://"+path, "10s")
	a := e2etest.StartServer(t, settings)
	c := &http.Client{Timeout: 30 * time.Second}
	refresh := make([]string, clients)
	for i := range refresh {
		_, refresh[i] = signIn(t, c, a, fmt.Sprintf("purge%d@example.com", i))
	}
	seedExpiredSessions(t, path, backlog)

	var (
		mu       sync.Mutex
		worst    time.Duration
		during   int
		failures []error
		purging  = make(chan struct{})
		done     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for i := range clients {
		wg.Go(func() {
			tok := refresh[i]
			for {
				select {
				case <-done:
					return
				default:
				}
				start := time.Now()
				r, err := call(c, "POST", a.URL+"/token", map[string]string{"refreshToken": tok}, "")
				took := time.Since(start)
				if err == nil && r.status != http.StatusOK {
					err = fmt.Errorf("%d %s", r.status, r.raw)
				}
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
					mu.Unlock()
					return
				}
				select {
				case <-purging:
					worst = max(worst, took)
					during++
				default:
				}
				mu.Unlock()
				tok = r.str("refreshToken")
			}
		})
	}
	close(purging)
	start := time.Now()
	out := e2etest.RunCLI(t, settings, "purge")
	took := time.Since(start)
	close(done)
	wg.Wait()
	for _, err := range failures {
		t.Errorf("a refresh failed while purge ran: %v", err)
	}
	if want := fmt.Sprintf("purged %d sessions\n", backlog); !strings.HasPrefix(out, want) {
		t.Errorf("purge printed %q; want it to start with %q", out, want)
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 1<<20 {
		t.Errorf("WAL after the purge: %d bytes; want under 1 MiB", fi.Size())
	}
	t.Logf("purge of %d sessions took %v; %d refreshes by %d clients meanwhile, worst %v; WAL %d bytes after",
		backlog, took.Round(time.Millisecond), during, clients, worst.Round(time.Millisecond), fi.Size())
}

// seedExpiredSessions adds n sessions whose refresh expiry passed a day ago
// to the SQLite file at path, in one statement.
func seedExpiredSessions(t *testing.T, path string, n int) {
	t.Helper()
	db, err := driver.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Now().Add(-48 * time.Hour).UnixNano()
	if _, err := db.ExecContext(context.Background(), `
		WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)
		INSERT INTO sessions (id, user_id, generation, created_at, last_refreshed_at, refresh_expires_at, absolute_expires_at)
		SELECT printf('%08d-backlog', i), 'nobody', 1, ?2, ?2, ?2 + 86400000000000, ?2 + 2592000000000000 FROM n`, n, at); err != nil {
		t.Fatal(err)
	}
}
