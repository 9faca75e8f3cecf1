package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres"
)

// A database migrated by a build without the DPoP migration (00003), which
// already has the later ones, gets it from Migrate all the same (versions
// land out of order), and its schema then checks as complete. The earlier
// build's state is made by undoing 00003 by hand on a migrated database.
func TestMigrateFillsAnEarlierVersion(t *testing.T) {
	ctx := context.Background()
	u := migratedDB(t)
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`DROP TABLE dpop_jti`,
		`ALTER TABLE sessions DROP COLUMN jkt`,
		`DELETE FROM latchkey_schema_migrations WHERE version_id = 3`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db := openDB(t, u, postgres.Options{})
	if err := db.CheckSchema(ctx); err == nil {
		t.Fatal("CheckSchema accepted a database without 00003")
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
