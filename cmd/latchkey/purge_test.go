package main

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server"
	"github.com/latchkey-dev/latchkey/server/servertest"
	"github.com/latchkey-dev/latchkey/ssf"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// latchkey purge never migrates: on a database without the schema, or with a
// schema this build does not know, it refuses with a clear error and leaves
// the database as it was; on a migrated one it purges.
func TestPurgeNeverMigrates(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "l.db")
		url := "sqlite://" + path
		checkPurgeNeverMigrates(t, url, func(q string) (int64, error) {
			db, err := sql.Open("sqlite3", "file:"+path)
			if err != nil {
				return 0, err
			}
			defer db.Close()
			if strings.HasPrefix(q, "SELECT") {
				var n int64
				err := db.QueryRow(q).Scan(&n)
				return n, err
			}
			_, err = db.Exec(q)
			return 0, err
		}, "sqlite_master WHERE type = 'table' AND name = 'goose_db_version'", "goose_db_version")
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.FreshDatabase(t)
		checkPurgeNeverMigrates(t, url, func(q string) (int64, error) {
			conn, err := pgx.Connect(context.Background(), url)
			if err != nil {
				return 0, err
			}
			defer conn.Close(context.Background())
			if strings.HasPrefix(q, "SELECT") {
				var n int64
				err := conn.QueryRow(context.Background(), q).Scan(&n)
				return n, err
			}
			_, err = conn.Exec(context.Background(), q)
			return 0, err
		}, "pg_tables WHERE tablename = 'latchkey_schema_migrations'", "latchkey_schema_migrations")
	})
}

// checkPurgeNeverMigrates runs the case on one backend: query runs SQL on
// the database directly, versionTable is where the count of the version
// table is found, table is goose's version table.
func checkPurgeNeverMigrates(t *testing.T, url string, query func(string) (int64, error), versionTable, table string) {
	t.Helper()
	db := "--database-url=" + url
	code, out, errs := cli(t, "", "purge", db)
	if code == 0 || !strings.Contains(errs, "purge: the database has no Latchkey schema") || !strings.Contains(errs, "latchkey migrate") {
		t.Fatalf("purge on an empty database: %d %q %q; want a refusal naming latchkey migrate", code, out, errs)
	}
	if n, err := query("SELECT count(*) FROM " + versionTable); err != nil || n != 0 {
		t.Fatalf("purge created the version table (%d, %v): it migrated", n, err)
	}
	if code, _, errs := cli(t, "", "migrate", db); code != 0 {
		t.Fatalf("migrate: %s", errs)
	}
	if code, out, errs := cli(t, "", "purge", db); code != 0 || !strings.Contains(out, "purged 0 sessions") {
		t.Fatalf("purge on a migrated database: %d %q %q", code, out, errs)
	}
	// A newer Latchkey's migration, unknown to this build.
	if _, err := query("INSERT INTO " + table + " (version_id, is_applied) VALUES (9999, true)"); err != nil {
		t.Fatal(err)
	}
	code, _, errs = cli(t, "", "purge", db)
	if code == 0 || !strings.Contains(errs, "schema is at version 9999, newer than this latchkey knows") {
		t.Fatalf("purge on a newer schema: %d %q; want a refusal", code, errs)
	}
	// An older one: the newest migration undone.
	if _, err := query("DELETE FROM " + table + " WHERE version_id >= (SELECT max(version_id) FROM " + table + " WHERE version_id < 9999)"); err != nil {
		t.Fatal(err)
	}
	code, _, errs = cli(t, "", "purge", db)
	if code == 0 || !strings.Contains(errs, "this latchkey needs") || !strings.Contains(errs, "latchkey migrate") {
		t.Fatalf("purge on an older schema: %d %q; want a refusal", code, errs)
	}
}

// latchkey purge deletes the security events (the revocation feed's outbox)
// that happened more than JWT_EXPIRES_IN + the 5 s leeway +
// SSF_RETENTION_MARGIN ago, when every access token they concern has
// expired, and keeps the younger ones: an event 10 minutes past the
// boundary is purged, one 10 minutes short of it stays. The events are
// made as revocations make them: sign-outs at a server whose clock is set
// to their time.
func TestPurgeSecurityEvents(t *testing.T) {
	for name, dbURL := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "l.db") },
		"postgres": func(t *testing.T) string { return pgtest.FreshDatabase(t) },
	} {
		t.Run(name, func(t *testing.T) {
			u := dbURL(t)
			flags := []string{"--database-url=" + u, "--jwt-expires-in=10m", "--ssf-retention-margin=2h", "--log-level=error"}
			cfg, err := config.Load(flags, nil)
			if err != nil {
				t.Fatal(err)
			}
			retain := server.SSFRetention(cfg)
			if want := 10*time.Minute + server.AccessLeeway + 2*time.Hour; retain != want {
				t.Fatalf("SSFRetention = %s, want %s", retain, want)
			}
			s := servertest.Start(t, func(c *config.Config) { c.DatabaseURL = u })
			feed := s.App.Store.(store.Feed)
			// Seeded relative to the wall clock, which the command purges by;
			// the 10-minute margins are far more than the test takes.
			now := time.Now()
			revokeAt := func(email string, at time.Time) string {
				t.Helper()
				s.Clock.Advance(at.Sub(s.Clock.Now()))
				tk := s.SignIn(t, email, "password123")
				if r := s.Do(t, "POST", "/auth/sign-out", nil, "Authorization: Bearer "+tk.AccessToken); r.Status != http.StatusNoContent {
					t.Fatalf("sign-out: %d %s", r.Status, r.Body)
				}
				return servertest.SessionID(t, tk.AccessToken)
			}
			old := revokeAt("old@example.com", now.Add(-retain-10*time.Minute))
			young := revokeAt("young@example.com", now.Add(-retain+10*time.Minute))
			// What a stream replaying the whole feed would be sent.
			feedSessions := func() []string {
				t.Helper()
				at := time.Now()
				rcv, _, err := ssf.CreateReceiver(t.Context(), feed, "r-"+strconv.FormatInt(at.UnixNano(), 36), "", at)
				if err != nil {
					t.Fatal(err)
				}
				st := store.Stream{ID: rcv.ID + "-s", ReceiverID: rcv.ID, Delivered: []store.EventKind{store.EventSessionRevoked},
					Status: store.StreamEnabled, CreatedAt: at, UpdatedAt: at}
				if err := feed.CreateStream(t.Context(), st, time.Unix(1, 0)); err != nil {
					t.Fatal(err)
				}
				evs, err := feed.StreamEvents(t.Context(), st.ID, 100)
				if err != nil {
					t.Fatal(err)
				}
				var sids []string
				for _, e := range evs {
					sids = append(sids, e.SessionID)
				}
				return sids
			}
			if got := feedSessions(); !slices.Equal(got, []string{old, young}) {
				t.Fatalf("events before the purge name sessions %v, want %v", got, []string{old, young})
			}

			code, out, errs := cli(t, "", append([]string{"purge"}, flags...)...)
			if code != 0 || !strings.Contains(out, "purged 1 security events and 0 event streams") {
				t.Fatalf("purge: %d %q %q; want 1 security event purged", code, out, errs)
			}
			if got := feedSessions(); !slices.Equal(got, []string{young}) {
				t.Fatalf("events after the purge name sessions %v, want only the younger %v", got, []string{young})
			}
			// Nothing more is due: a second purge deletes no event.
			if code, out, errs := cli(t, "", append([]string{"purge"}, flags...)...); code != 0 || !strings.Contains(out, "purged 0 security events") {
				t.Fatalf("second purge: %d %q %q", code, out, errs)
			}
		})
	}
}
