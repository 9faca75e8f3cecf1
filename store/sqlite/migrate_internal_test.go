package sqlite

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/latchkey-dev/latchkey/store"
)

// A database made by the first schema keeps every session, exactly, through
// migration 2 (sessions WITHOUT ROWID, index on user_id), and back down.
func TestMigrationTwoKeepsSessions(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db.w, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	if _, err := db.w.ExecContext(ctx, `INSERT INTO users (id, email, password_hash, status, created_at, updated_at)
		VALUES ('u', 'u@example.com', 'x', 'active', 1, 1)`); err != nil {
		t.Fatal(err)
	}
	want := []store.Session{
		{ID: "s1", UserID: "u", Generation: 7, CreatedAt: base, LastRefreshedAt: base.Add(time.Minute),
			RefreshExpiresAt: base.Add(time.Hour), AbsoluteExpiresAt: base.Add(24 * time.Hour),
			ClientID: "app", UserAgent: "curl/8", IP: "192.0.2.1"},
		{ID: "s2", UserID: "u", Generation: 1, CreatedAt: base, LastRefreshedAt: base,
			RefreshExpiresAt: base.Add(time.Hour), AbsoluteExpiresAt: base.Add(24 * time.Hour),
			RevokedAt: base.Add(time.Second), RevokeReason: "sign_out"},
	}
	for _, s := range want {
		var e enc
		if _, err := db.w.ExecContext(ctx, `INSERT INTO sessions (id, user_id, generation, created_at, last_refreshed_at,
			refresh_expires_at, absolute_expires_at, revoked_at, revoke_reason, client_id, user_agent, ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.ID, s.UserID, s.Generation, e.time(s.CreatedAt), e.time(s.LastRefreshedAt), e.time(s.RefreshExpiresAt),
			e.time(s.AbsoluteExpiresAt), e.time(s.RevokedAt), s.RevokeReason, s.ClientID, s.UserAgent, s.IP); err != nil {
			t.Fatal(err)
		}
	}
	check := func(stage string) {
		t.Helper()
		for _, w := range want {
			// The columns of the first schema ('' for jkt, which a later
			// migration adds), so the check reads the table at any version.
			got, err := scanSession(db.r.QueryRowContext(ctx, `SELECT id, user_id, generation, created_at, last_refreshed_at,
				refresh_expires_at, absolute_expires_at, revoked_at, revoke_reason, client_id, user_agent, ip, ''
				FROM sessions WHERE id = ?`, w.ID))
			if err != nil {
				t.Fatalf("%s: session %s: %v", stage, w.ID, err)
			}
			if got != w {
				t.Errorf("%s: session %s = %+v; want %+v", stage, w.ID, got, w)
			}
		}
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	check("after up")
	var ddl string
	if err := db.r.QueryRowContext(ctx, `SELECT sql FROM sqlite_schema WHERE name = 'sessions'`).Scan(&ddl); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToUpper(ddl), "WITHOUT ROWID") {
		t.Errorf("sessions after migration 2: %s", ddl)
	}
	// The hot path works on the new table.
	if _, err := db.Rotate(ctx, store.RotateParams{SessionID: "s1", Generation: 7, Now: base.Add(2 * time.Minute),
		RefreshTTL: time.Hour, Advance: true}); err != nil {
		t.Fatal(err)
	}
	want[0].Generation, want[0].LastRefreshedAt = 8, base.Add(2*time.Minute)
	want[0].RefreshExpiresAt = base.Add(time.Hour + 2*time.Minute)
	if _, err := p.DownTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Reads go through the read pool, which re-reads the schema by itself.
	check("after down")
}

// A database migrated by a build without the DPoP migration (00004), which
// already has the later ones, gets it from Migrate all the same (versions
// land out of order), and its schema then checks as complete.
func TestMigrateFillsAnEarlierVersion(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	without := fstest.MapFS{}
	names, _ := fs.Glob(sub, "*.sql")
	for _, n := range names {
		if strings.HasPrefix(n, "00004_") {
			continue
		}
		b, _ := fs.ReadFile(sub, n)
		without[n] = &fstest.MapFile{Data: b}
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db.w, without)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckSchema(ctx); err == nil {
		t.Fatal("CheckSchema accepted a database without 00004")
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate after the later versions: %v", err)
	}
	if err := db.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema after Migrate: %v", err)
	}
	if err := db.UseProof(ctx, store.ProofUse{Key: []byte("k"), Expires: time.Now().Add(time.Minute)}); err != nil {
		t.Fatalf("UseProof on the migrated database: %v", err)
	}
}
