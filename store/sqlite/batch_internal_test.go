package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

var batchBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// openBatchTest opens a migrated database with one active user and n live
// sessions "s000"… at generation 1.
func openBatchTest(t *testing.T, path string, n int) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, store.User{ID: "u", Email: "u@example.com", PasswordHash: "x",
		Status: store.UserActive, CreatedAt: batchBase, UpdatedAt: batchBase}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := db.CreateSession(ctx, store.Session{ID: fmt.Sprintf("s%03d", i), UserID: "u", Generation: 1,
			CreatedAt: batchBase, LastRefreshedAt: batchBase, RefreshExpiresAt: batchBase.Add(time.Hour),
			AbsoluteExpiresAt: batchBase.Add(24 * time.Hour)}, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Prepare Rotate's statement now, so that the batches under test time
	// only their writes.
	if _, err := db.Rotate(ctx, store.RotateParams{SessionID: "prepare", Now: batchBase}); !errors.Is(err, store.ErrStale) {
		t.Fatalf("Rotate of an unknown session: %v", err)
	}
	return db
}

// gate holds the writer inside a batch until release is closed, so that
// every write queued meanwhile lands in the next batch together.
func gate(t *testing.T, db *DB) (release func()) {
	t.Helper()
	held, open := make(chan struct{}), make(chan struct{})
	go func() {
		_ = db.submit(context.Background(), false, func(*wtx) error {
			close(held)
			<-open
			return nil
		})
	}()
	<-held
	return func() { close(open) }
}

// waitQueued waits until n writes are queued behind the gate.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(db.queue) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", len(db.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBatchIsolatedAndDurable puts, in ONE group commit, successful
// rotations, a double spend (two rotations of the same generation: exactly
// one may win), stale rotations, a duplicate CreateSession (a failing
// multi-statement write rolled back to its savepoint) and a revocation, then
// reopens the file and checks that every acknowledged write is there, exactly,
// and that the failures changed nothing.
func TestBatchIsolatedAndDurable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "batch.db")
	const n = 40
	db := openBatchTest(t, path, n)
	now := batchBase.Add(time.Minute)
	rot := func(id string, gen int64) store.RotateParams {
		return store.RotateParams{SessionID: id, Generation: gen, Now: now, RefreshTTL: time.Hour, Advance: true}
	}

	release := gate(t, db)
	b0, w0 := db.BatchStats()
	type outcome struct {
		name string
		sess store.Session
		err  error
	}
	var (
		mu  sync.Mutex
		out []outcome
		wg  sync.WaitGroup
	)
	record := func(name string, s store.Session, err error) {
		mu.Lock()
		out = append(out, outcome{name, s, err})
		mu.Unlock()
	}
	queued := 0
	// s000..s029: one good rotation each.
	for i := range 30 {
		id := fmt.Sprintf("s%03d", i)
		wg.Go(func() { s, err := db.Rotate(ctx, rot(id, 1)); record("ok "+id, s, err) })
		queued++
	}
	// s030: a double spend inside the batch.
	for range 2 {
		wg.Go(func() { s, err := db.Rotate(ctx, rot("s030", 1)); record("double s030", s, err) })
		queued++
	}
	// s031, s032: stale generations; s033 does not exist.
	for _, c := range []struct {
		id  string
		gen int64
	}{{"s031", 2}, {"s032", 0}, {"nope", 1}} {
		wg.Go(func() { s, err := db.Rotate(ctx, rot(c.id, c.gen)); record("stale "+c.id, s, err) })
		queued++
	}
	// A duplicate session id: fails alone, and its savepoint undoes it.
	wg.Go(func() {
		_, err := db.CreateSession(ctx, store.Session{ID: "s034", UserID: "u", Generation: 7, CreatedAt: now,
			LastRefreshedAt: now, RefreshExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour)}, 0)
		record("dup s034", store.Session{}, err)
	})
	queued++
	// A new session and a revocation.
	wg.Go(func() {
		_, err := db.CreateSession(ctx, store.Session{ID: "new", UserID: "u", Generation: 1, CreatedAt: now,
			LastRefreshedAt: now, RefreshExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour)}, 0)
		record("create new", store.Session{}, err)
	})
	wg.Go(func() {
		k, err := db.RevokeSessions(ctx, store.RevokeParams{SessionID: "s035", Reason: "test", Now: now})
		if err == nil && k != 1 {
			err = fmt.Errorf("revoked %d sessions, want 1", k)
		}
		record("revoke s035", store.Session{}, err)
	})
	queued += 2
	waitQueued(t, db, queued)
	release()
	wg.Wait()
	b1, w1 := db.BatchStats()
	if b1-b0 != 2 || w1-w0 != int64(queued)+1 {
		t.Fatalf("%d batches of %d writes, want the gate's and one of %d", b1-b0, w1-w0, queued)
	}

	wins := 0
	for _, o := range out {
		switch o.name[:4] {
		case "ok s":
			if o.err != nil || o.sess.Generation != 2 || !o.sess.LastRefreshedAt.Equal(now) {
				t.Errorf("%s: %+v, %v; want generation 2 at %v", o.name, o.sess, o.err, now)
			}
		case "doub":
			if o.err == nil {
				wins++
			} else if !errors.Is(o.err, store.ErrStale) {
				t.Errorf("%s: %v, want ErrStale for the loser", o.name, o.err)
			}
		case "stal":
			if !errors.Is(o.err, store.ErrStale) {
				t.Errorf("%s: %v, want ErrStale", o.name, o.err)
			}
		case "dup ":
			if !errors.Is(o.err, store.ErrConflict) {
				t.Errorf("%s: %v, want ErrConflict", o.name, o.err)
			}
		default:
			if o.err != nil {
				t.Errorf("%s: %v", o.name, o.err)
			}
		}
	}
	if wins != 1 {
		t.Errorf("double spend in one batch: %d winners, want exactly 1", wins)
	}

	// Reopen the file: every acknowledged write is on disk, exactly.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range n {
		id := fmt.Sprintf("s%03d", i)
		s, err := db.Session(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		wantGen, wantAt := int64(1), batchBase
		if i <= 30 {
			wantGen, wantAt = 2, now
		}
		if s.Generation != wantGen || !s.LastRefreshedAt.Equal(wantAt) {
			t.Errorf("%s after reopen: generation %d at %v, want %d at %v", id, s.Generation, s.LastRefreshedAt, wantGen, wantAt)
		}
		if s.Revoked() != (i == 35) {
			t.Errorf("%s after reopen: revoked %v", id, s.Revoked())
		}
	}
	if s, err := db.Session(ctx, "s034"); err != nil || s.Generation != 1 || !s.CreatedAt.Equal(batchBase) {
		t.Errorf("s034 after a duplicate CreateSession: %+v, %v; want the original", s, err)
	}
	if _, err := db.Session(ctx, "new"); err != nil {
		t.Errorf("session created in the batch: %v", err)
	}
}

// TestBatchFatalFailsAll checks that a failure that is not one write's own
// (here a panic, standing in for an I/O error) rolls the whole batch back and
// fails every write in it, so none is acknowledged without being committed.
func TestBatchFatalFailsAll(t *testing.T) {
	ctx := context.Background()
	db := openBatchTest(t, filepath.Join(t.TempDir(), "fatal.db"), 4)
	defer db.Close()
	release := gate(t, db)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range 3 {
		wg.Go(func() {
			_, errs[i] = db.Rotate(ctx, store.RotateParams{SessionID: fmt.Sprintf("s%03d", i), Generation: 1,
				Now: batchBase.Add(time.Minute), RefreshTTL: time.Hour, Advance: true})
		})
	}
	waitQueued(t, db, 3)
	wg.Go(func() { errs[3] = db.submit(ctx, false, func(*wtx) error { panic("boom") }) })
	waitQueued(t, db, 4)
	release()
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			t.Errorf("write %d of a failed batch succeeded", i)
		}
	}
	for i := range 3 {
		if s, _ := db.Session(ctx, fmt.Sprintf("s%03d", i)); s.Generation != 1 {
			t.Errorf("s%03d: generation %d after a rolled-back batch, want 1", i, s.Generation)
		}
	}
	// The writer goes on.
	if _, err := db.Rotate(ctx, store.RotateParams{SessionID: "s003", Generation: 1, Now: batchBase.Add(time.Minute),
		RefreshTTL: time.Hour, Advance: true}); err != nil {
		t.Errorf("Rotate after a failed batch: %v", err)
	}
}
