package token_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store/sqlite"
	"github.com/latchkey-dev/latchkey/token"
)

// Instances starting together on a new database (here: issuers on their own
// connections to one SQLite file) all install the same first key, so each
// accepts the others' access tokens from the first request on.
func TestLoadKeysConcurrentFirstStart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	const instances = 6
	dbs := make([]*sqlite.DB, instances)
	for i := range dbs {
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		dbs[i] = db
	}
	issuers := make([]*token.Issuer, instances)
	for i := range issuers {
		iss, err := token.NewIssuer(token.Options{Issuer: "http://test", Audience: "latchkey",
			RefreshSecret: []byte(strings.Repeat("r", 32)), Leeway: 5 * time.Second, PublishRetiredFor: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		issuers[i] = iss
	}
	start := make(chan struct{})
	errs := make([]error, instances)
	var wg sync.WaitGroup
	for i := range issuers {
		wg.Go(func() {
			<-start
			errs[i] = issuers[i].LoadKeys(ctx, dbs[i], token.ES256, nil)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	tok, _, err := issuers[0].MintAccess(token.AccessClaims{Subject: "u", SessionID: "s", ExpiresAt: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	for i, iss := range issuers {
		if iss.ActiveKeyID() != issuers[0].ActiveKeyID() {
			t.Errorf("instance %d signs with %s, instance 0 with %s", i, iss.ActiveKeyID(), issuers[0].ActiveKeyID())
		}
		if _, err := iss.VerifyAccess(tok); err != nil {
			t.Errorf("instance %d refuses instance 0's token: %v", i, err)
		}
	}
}
