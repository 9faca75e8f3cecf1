package postgres_test

import (
	"context"
	"testing"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres"
	"github.com/latchkey-dev/latchkey/store/storetest"
)

var _ store.Store = (*postgres.DB)(nil)

// TestConformance runs the store contract's suite, each case on a fresh,
// migrated schema. The cross-instance cases (two pools on one database) are
// in concurrency_test.go.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openDB(t, migratedDB(t), postgres.Options{})
	})
}

// TestCredentialsConformance runs the suite of the password lifecycle's
// tokens and mail queue, each case on a fresh, migrated schema.
func TestCredentialsConformance(t *testing.T) {
	storetest.RunCredentials(t, func(t *testing.T) storetest.CredentialStore {
		return openDB(t, migratedDB(t), postgres.Options{})
	})
}

// TestNanosecondsRoundTrip: the suite's times carry microseconds; this
// backend promises nanoseconds (bigint columns), so check that too.
func TestNanosecondsRoundTrip(t *testing.T) {
	db := openDB(t, migratedDB(t), postgres.Options{})
	mustCreateUser(t, db, activeUser("u1"))
	s := newSession("s1", "u1", t0) // t0 has nanoseconds
	mustCreateSession(t, db, s, 0)
	got, err := db.Session(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	if got != s {
		t.Fatalf("Session = %+v, want %+v", got, s)
	}
}

var _ store.Feed = (*postgres.DB)(nil)

// TestFeedConformance runs the security-event feed's suite.
func TestFeedConformance(t *testing.T) {
	storetest.RunFeed(t, func(t *testing.T) store.Store {
		return openDB(t, migratedDB(t), postgres.Options{})
	})
}
