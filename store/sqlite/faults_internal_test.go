package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"

	"github.com/latchkey-dev/latchkey/store"
)

// rotation is a rotation of session id from generation gen.
func rotation(id string, gen int64) store.RotateParams {
	return store.RotateParams{SessionID: id, Generation: gen, Now: batchBase.Add(time.Duration(gen) * time.Minute),
		RefreshTTL: time.Hour, Advance: true}
}

// TestQueuedWriteLeavesWithContext: a caller whose context ends while its
// write is still queued (the writer is stuck: another process holds the
// write lock) leaves at once with its context's error, and the write never
// runs. Before, it waited for the writer to reach it, however long that
// took, whatever its context said.
func TestQueuedWriteLeavesWithContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queued.db")
	openBatchTest(t, path, 2).Close()
	db, err := OpenWith(context.Background(), path, Options{BusyTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	other, err := driver.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	// The writer takes this one and waits for the lock.
	first := make(chan error, 1)
	go func() { _, err := db.Rotate(context.Background(), rotation("s000", 1)); first <- err }()
	for deadline := time.Now().Add(10 * time.Second); len(db.queue) > 0 || !writerBusy(db); {
		if time.Now().After(deadline) {
			t.Fatal("the writer never took the first write")
		}
		time.Sleep(time.Millisecond) // polling interval
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	second := make(chan error, 1)
	go func() { _, err := db.Rotate(ctx, rotation("s001", 1)); second <- err }()
	select {
	case err := <-second:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("queued write whose context ended: %v; want context.DeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a queued write whose context ended kept waiting for the stuck writer")
	}
	if _, err := conn.ExecContext(context.Background(), `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Errorf("the write the writer had taken: %v", err)
	}
	if s, _ := db.Session(context.Background(), "s001"); s.Generation != 1 {
		t.Errorf("the abandoned write ran: generation %d", s.Generation)
	}
}

// writerBusy reports whether the writer has taken a batch it has not
// finished.
func writerBusy(db *DB) bool { return db.w.Stats().InUse > 0 }

// TestFailedRollbackDoesNotWedge: a batch that fails and whose ROLLBACK
// fails too (here the connection is interrupted, which SQLite refuses
// every statement on) must not leave the writer connection inside the
// transaction: every later BEGIN IMMEDIATE would fail. Before, the failed
// ROLLBACK went unnoticed (an interrupted step left nothing for Reset to
// report) and the writer failed every write from then on.
func TestFailedRollbackDoesNotWedge(t *testing.T) {
	db := openBatchTest(t, filepath.Join(t.TempDir(), "rollback.db"), 3)
	defer db.Close()
	ctx := context.Background()
	err := db.submit(ctx, false, func(t *wtx) error {
		gone, cancel := context.WithCancel(context.Background())
		cancel()
		t.c.SetInterrupt(gone)
		return errors.New("a failure that rolls the batch back")
	})
	if err == nil {
		t.Fatal("the failing write succeeded")
	}
	for i := range 3 {
		if _, err := db.Rotate(ctx, rotation(fmt.Sprintf("s%03d", i), 1)); err != nil {
			t.Fatalf("write %d after a batch whose rollback failed: %v", i, err)
		}
	}
}

// TestWritesCancelledAtRandom: signing-key, secret and purge writes whose
// contexts end at any point leave the writer connection usable and the
// store closable. They used to run in a database/sql transaction under the
// caller's context: cancelled mid-transaction, database/sql discarded the
// connection, whose cached statements made SQLite refuse to close it, and
// the leaked connection could keep the write lock.
func TestWritesCancelledAtRandom(t *testing.T) {
	fds := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd: cannot count open files here")
		}
		return len(entries)
	}
	before := fds()
	path := filepath.Join(t.TempDir(), "cancel.db")
	db := openBatchTest(t, path, 1)
	// Each kind of write once without a deadline, to learn how long it
	// takes; then each again and again, one at a time, with deadlines spread
	// from nothing to twice that: before it is queued, while it is queued,
	// while it runs, after.
	write := func(ctx context.Context, i int) error {
		var err error
		switch i % 3 {
		case 0:
			_, err = db.EnsureSigningKey(ctx, store.SigningKey{KID: fmt.Sprintf("k%04d", i), Algorithm: fmt.Sprintf("A%d", i),
				Private: []byte{1, 2, 3}, CreatedAt: batchBase.Add(time.Duration(i) * time.Second)})
		case 1:
			_, err = db.Secret(ctx, fmt.Sprintf("n%04d", i), func() ([]byte, error) { return []byte{byte(i)}, nil })
		case 2:
			_, err = db.Purge(ctx, batchBase, batchBase)
		}
		return err
	}
	took := time.Duration(0)
	for i := range 3 {
		start := time.Now()
		if err := write(context.Background(), 10_000+i); err != nil {
			t.Fatal(err)
		}
		took = max(took, time.Since(start))
	}
	ended := 0
	const steps = 40
	for i := range 6 * steps {
		ctx, cancel := context.WithTimeout(context.Background(), took*time.Duration(i%steps)/(steps/2))
		if errors.Is(write(ctx, i), context.DeadlineExceeded) {
			ended++
		}
		cancel()
	}
	t.Logf("%d of %d writes (each ~%v) ended by their deadline", ended, 6*steps, took)
	ctx := context.Background()
	if _, err := db.Rotate(ctx, rotation("s000", 1)); err != nil {
		t.Fatalf("a write after the cancelled ones: %v", err)
	}
	if _, err := db.EnsureSigningKey(ctx, store.SigningKey{KID: "last", Algorithm: "EdDSA", Private: []byte{4},
		CreatedAt: batchBase}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close after cancelled writes: %v", err)
	}
	if after := fds(); after > before {
		t.Errorf("%d files open after Close, %d before Open: connections leaked", after, before)
	}
}

// TestPurgeWhileRefreshing: a purge of a large backlog while sessions
// refresh. It deletes in bounded chunks that the refreshes are committed
// between (each chunk one write of the group commit), fails no refresh,
// and leaves the WAL truncated. Before, one DELETE held the only writer for
// the whole purge (no refresh committed meanwhile) and the WAL kept the
// size of the deletion until the process restarted.
func TestPurgeWhileRefreshing(t *testing.T) {
	const dead, live = 60_000, 8
	path := filepath.Join(t.TempDir(), "purge.db")
	db := openBatchTest(t, path, live)
	defer db.Close()
	ctx := context.Background()
	seed, err := driver.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	// Dead sessions interleaved with the live ones in key order ("d…" and
	// "s…" are apart, so some live ones are also given keys among them).
	expired := batchBase.Add(-time.Hour).UnixNano()
	if _, err := seed.ExecContext(ctx, `
		WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
		INSERT INTO sessions (id, user_id, generation, created_at, last_refreshed_at, refresh_expires_at, absolute_expires_at)
		SELECT printf('d%06d', i), 'u', 1, ?2, ?2, ?2, ?2 FROM n`, dead, expired); err != nil {
		t.Fatal(err)
	}
	seed.Close()

	var (
		stop      atomic.Bool
		purging   atomic.Bool
		during    atomic.Int64 // refreshes committed while the purge ran
		worst     atomic.Int64
		refreshed atomic.Int64
		errs      = make(chan error, live)
		wg        sync.WaitGroup
	)
	for c := range live {
		wg.Go(func() {
			id := fmt.Sprintf("s%03d", c)
			for gen := int64(1); !stop.Load(); gen++ {
				start := time.Now()
				if _, err := db.Rotate(ctx, rotation(id, gen)); err != nil {
					errs <- fmt.Errorf("refresh of %s during the purge: %w", id, err)
					return
				}
				if d := time.Since(start).Nanoseconds(); d > worst.Load() {
					worst.Store(d)
				}
				refreshed.Add(1)
				if purging.Load() {
					during.Add(1)
				}
			}
		})
	}
	for refreshed.Load() < 100 { // the refreshes are under way
		time.Sleep(time.Millisecond) // polling interval
	}
	purging.Store(true)
	start := time.Now()
	n, err := db.Purge(ctx, batchBase, batchBase)
	took := time.Since(start)
	purging.Store(false)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err != nil || n != dead {
		t.Fatalf("purge: %d, %v; want %d deleted", n, err, dead)
	}
	// One DELETE holding the writer lets through at most the refresh each
	// refresher had under way when it started.
	chunks := (dead + live + purgeScan - 1) / purgeScan
	if d := during.Load(); d <= 2*live {
		t.Errorf("%d refreshes committed while the purge's %d chunks ran; want refreshes between the chunks", d, chunks)
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	const walLimit = 1 << 20
	if fi.Size() > walLimit {
		t.Errorf("WAL after the purge: %d bytes; want at most %d", fi.Size(), walLimit)
	}
	t.Logf("purged %d sessions in %v (%d chunks) while %d sessions refreshed: %d refreshes during the purge, worst refresh %v, WAL %d bytes after",
		n, took.Round(time.Millisecond), chunks, live, during.Load(), time.Duration(worst.Load()).Round(time.Millisecond), fi.Size())
}

// TestInterruptedReadIsTheContextsError: the driver stops a statement whose
// context ends with sqlite3.INTERRUPT rather than with the context's error.
// A read interrupted that way is reported as the cancellation (and as
// ErrUnavailable), so a caller can tell a client that hung up from a
// failing database: before, it was a bare "sqlite3: interrupted", which the
// HTTP layer answered and logged as a 500.
func TestInterruptedReadIsTheContextsError(t *testing.T) {
	db := openBatchTest(t, filepath.Join(t.TempDir(), "interrupt.db"), 0)
	defer db.Close()
	// An endless result set: the context is cancelled while the first row
	// is scanned, so the driver's next step meets a done context (or
	// database/sql closes the rows first; either must read as cancelled).
	const endless = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c`
	for i := range 50 {
		ctx, cancel := context.WithCancel(context.Background())
		_, err := queryAll(ctx, db, "endless", func(s scanner) (int64, error) {
			var x int64
			err := s.Scan(&x)
			cancel()
			return x, err
		}, endless)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("try %d: an interrupted read = %v, want context.Canceled", i, err)
		}
	}
	// The mapping itself, for the interrupt the driver returns.
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-ctx.Done()
	err := db.wrap(ctx, "read", sqlite3.INTERRUPT)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("an interrupt past the deadline = %v, want DeadlineExceeded and ErrUnavailable", err)
	}
	// A statement waiting for a lock when its context ends stops with BUSY.
	gone, leave := context.WithCancel(context.Background())
	leave()
	if err := db.wrap(gone, "read", sqlite3.BUSY); !errors.Is(err, context.Canceled) || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a lock wait whose client left = %v, want Canceled and ErrUnavailable", err)
	}
	if err := db.wrap(context.Background(), "read", sqlite3.INTERRUPT); errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("an interrupt with a live context = %v, want neither a cancellation nor ErrUnavailable", err)
	}
}
