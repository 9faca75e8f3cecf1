package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3"
	"github.com/pressly/goose/v3"
)

// SQLite writes temporary files when a sort or an index build outgrows its
// page cache: a migration that creates an index on a large table, a large
// ORDER BY. They go to SQLITE_TMPDIR, else TMPDIR, else /tmp, and the image
// has no /tmp (nor may its root be written: the containers run with a
// read-only root file system). A database of schema 1 with many sessions is
// put on the volume; the container's serve must migrate it (migration 2
// rebuilds the sessions table and indexes it) and then serve from it.
func TestImageSQLiteTempFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		skipOutsideCI(t, "not root: cannot chroot and switch to uid 65532 to run the image")
	}
	_, path := sharedImage(t)
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	volume := filepath.Join(t.TempDir(), "volume")
	if err := os.Mkdir(volume, 0o700); err != nil {
		t.Fatal(err)
	}
	schemaOneWithSessions(t, filepath.Join(volume, "latchkey.db"), 150_000)
	entries, err := os.ReadDir(volume)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range append(entries, nil) {
		name := volume
		if e != nil {
			name = filepath.Join(volume, e.Name())
		}
		if err := os.Chown(name, UID, GID); err != nil {
			t.Fatal(err)
		}
	}
	addr := freeAddr(t)
	env := append(slices.Clone(cf.Config.Env), "HTTP_ADDR="+addr, "METRICS_ADDR="+freeAddr(t), "LOG_FORMAT=text")
	c := startContainer(t, img, cf.Config, env, volume)
	signIn(t, "http://"+addr)
	if err := c.stop(t); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, c.logs.String())
	}
}

// schemaOneWithSessions makes a SQLite database at migration 1 of the
// repository's migrations holding n sessions.
func schemaOneWithSessions(t *testing.T, path string, n int) {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	p, err := goose.NewProvider(goose.DialectSQLite3, db, os.DirFS(filepath.Join(root, "store", "sqlite", "migrations")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	salt := make([]byte, 8)
	rand.Read(salt)
	if _, err := db.ExecContext(ctx, `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < ?)
		INSERT INTO sessions (id, user_id, generation, created_at, last_refreshed_at, refresh_expires_at, absolute_expires_at)
		SELECT lower(hex(randomblob(16))), ? || lower(hex(randomblob(16))), 0, i, i, i, i FROM c`, n, hex.EncodeToString(salt)); err != nil {
		t.Fatal(err)
	}
}
