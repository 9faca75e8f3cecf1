package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// While the feed lock is held elsewhere (another instance's sequencer that
// is slow, or stuck on a connection its database has not yet noticed is
// dead), readers of the feed on this instance wait for it, but at most one
// of this instance's connections does: the others stay free for sign-ins
// and refreshes, however many polls wait.
func TestFeedLockHolderLeavesThePoolUsable(t *testing.T) {
	u := pgtest.FreshDatabase(t) // a database of its own: advisory locks are per database
	db := openDB(t, u, postgres.Options{MaxConns: 3, QueryTimeout: time.Minute})
	ctx := context.Background()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := db.CreateReceiver(ctx, store.Receiver{ID: "r1", Name: "api", Audience: "api", CredentialHash: []byte("h"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	st := store.Stream{ID: "s1", ReceiverID: "r1", Status: store.StreamEnabled, CreatedAt: now, UpdatedAt: now,
		Delivered: []store.EventKind{store.EventSessionRevoked}}
	if err := db.CreateStream(ctx, st, time.Time{}); err != nil {
		t.Fatal(err)
	}

	holder, release := pgtest.HoldAdvisoryLock(t, u, postgres.FeedLockKey)
	waiting := func() int {
		var n int
		err := holder.QueryRow(ctx, `SELECT count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND NOT granted AND classid = $1 AND objid = 0
			  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, postgres.FeedLockKey).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Six polls read the feed (each instance's watcher, waiting polls).
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.StreamEvents(rctx, st.ID, 10)
			errs <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for waiting() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no reader ever waited for the feed lock")
		}
		time.Sleep(5 * time.Millisecond) // polling for a real event, with a deadline
	}
	// Give the others a moment to pile up behind it, if they are going to.
	most := 0
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		most = max(most, waiting())
	}
	if most > 1 {
		t.Errorf("%d of this instance's %d connections waited for the feed lock at once; want at most 1", most, 3)
	}
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
	defer pcancel()
	if _, err := db.Session(pctx, "no-such-session"); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the store is unusable while the feed lock is held elsewhere: %v", err)
	}

	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a reader failed once the lock was free: %v", err)
		}
	}
}
