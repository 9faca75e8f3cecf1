package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// These tests put the refresh path under the faults that used to make a
// rotation commit while its caller was told it failed.

// rotateParams is a rotation of session id from generation 1.
func rotateParams(id string) store.RotateParams {
	return store.RotateParams{SessionID: id, Generation: 1, Now: bt0.Add(time.Minute), RefreshTTL: time.Hour, Advance: true}
}

// connect opens a connection of its own to u, closed when the test ends.
func connect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// waitLockWait polls until n statements whose text matches like wait for a
// lock in the test's database.
func waitLockWait(t *testing.T, db *DB, like string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var waiting int
		if err := db.pool.QueryRow(context.Background(), `
			SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`, like).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d statements like %q wait for a lock, want %d", waiting, like, n)
		}
		time.Sleep(2 * time.Millisecond) // polling interval
	}
}

// TestRotateAtQueryTimeout is the reproduction of a rotation that committed
// while Rotate reported it failed: another connection holds the session's
// row (SELECT … FOR UPDATE) and releases it around the moment the batch's
// statement times out. The client used to give up at QueryTimeout and drop
// the connection while the statement, granted the lock a moment later,
// committed anyway, and Rotate reported a failure. Now the server's
// statement_timeout ends the statement a margin before the client would:
// for every release offset, a failure means the row did not move and
// success means it did, and the failures are the server's own verdict
// (57014, query_canceled: rolled back).
//
// An answer that does not come within the margin is reported as in doubt
// (store.ErrInDoubt), never as a failure: that is the documented residue
// (statement.go), and on a machine starved of CPU (load 14 on 2 cores,
// under -race) the server's error can take longer than the 100 ms margin
// to arrive. So in-doubt answers are allowed and logged; what is asserted
// is the promise of the in-doubt handling (no failure while the row advanced) and that the
// server decided: without statement_timeout every failure here is the
// client's timeout, in doubt.
//
// The lock is released by a timer at chosen offsets from the call: the
// point is where the release falls relative to the timeouts, which are real
// time on the server, so the test positions a real event in real time.
func TestRotateAtQueryTimeout(t *testing.T) {
	// 400 ms leaves the server a margin of 100 ms to answer before the
	// client gives up, enough on a loaded machine under -race.
	const queryTimeout = 400 * time.Millisecond
	// Set-up and checks go through a store with the default timeout: on a
	// loaded machine a CreateUser may take longer than 400 ms, and only the
	// Rotate under test is meant to meet the short one.
	setup, u := batchDB(t, false, Options{})
	locker := connect(t, u)
	ctx := context.Background()
	db, err := Open(ctx, u, Options{QueryTimeout: queryTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	server := serverTimeout(queryTimeout)
	// Around the server's timeout and around the client's, where a lock
	// released a moment before the client gave up used to commit unseen.
	var offsets []time.Duration
	for _, around := range []time.Duration{server, queryTimeout} {
		for d := around - 20*time.Millisecond; d <= around+15*time.Millisecond; d += 5 * time.Millisecond {
			offsets = append(offsets, d)
		}
	}
	var failed, succeeded, verdicts, doubtful int
	for i, offset := range offsets {
		id := fmt.Sprintf("s%03d", i)
		batchSession(t, setup, id, nil)
		tx, err := locker.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE`, id); err != nil {
			t.Fatal(err)
		}
		release := make(chan error, 1)
		timer := time.AfterFunc(offset, func() { release <- tx.Commit(ctx) })
		_, rerr := db.Rotate(ctx, rotateParams(id))
		if err := <-release; err != nil {
			t.Fatal(err)
		}
		timer.Stop()
		got := get(t, setup, id)
		var pgErr *pgconn.PgError
		switch {
		case errors.Is(rerr, store.ErrInDoubt):
			if !errors.Is(rerr, store.ErrUnavailable) {
				t.Errorf("release at %v: in doubt without ErrUnavailable: %v", offset, rerr)
			}
			doubtful++
			t.Logf("release at %v: in doubt (the answer missed the margin), generation %d: %v", offset, got.Generation, rerr)
		case rerr != nil && got.Generation != 1:
			t.Errorf("release at %v: Rotate failed (%v) but the session advanced to generation %d", offset, rerr, got.Generation)
		case rerr == nil && got.Generation != 2:
			t.Errorf("release at %v: Rotate succeeded but the session is at generation %d", offset, got.Generation)
		case rerr != nil:
			failed++
			if errors.As(rerr, &pgErr) && pgErr.Code == "57014" {
				verdicts++
			}
		default:
			succeeded++
		}
	}
	t.Logf("%d release offsets around statement_timeout %v and QueryTimeout %v: %d rotated, %d failed (%d by the server's statement_timeout), %d in doubt",
		len(offsets), server, queryTimeout, succeeded, failed, verdicts, doubtful)
	if verdicts == 0 {
		t.Error("no failure was the server's statement_timeout: the client's timer decided")
	}
}

// TestRotateUnderRepeatableReadDefault: a database whose default isolation
// is REPEATABLE READ does not turn a double refresh into a batch-wide
// failure. The connection pins READ COMMITTED, so a statement that waited
// for a row another instance rotated re-checks it and finds that op stale,
// and the rest of the batch is applied.
func TestRotateUnderRepeatableReadDefault(t *testing.T) {
	db, u := batchDB(t, true, Options{})
	ctx := context.Background()
	admin := connect(t, u)
	if _, err := admin.Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation = %L',
		current_database(), 'repeatable read'); END $$`); err != nil {
		t.Fatal(err)
	}
	// New connections see the database's new default; the store's own
	// connections pin theirs.
	db.pool.Reset()
	var iso string
	if err := connect(t, u).QueryRow(ctx, `SHOW default_transaction_isolation`).Scan(&iso); err != nil || iso != "repeatable read" {
		t.Fatalf("the database's default isolation: %q, %v", iso, err)
	}
	if err := db.pool.QueryRow(ctx, `SHOW default_transaction_isolation`).Scan(&iso); err != nil || iso != "read committed" {
		t.Fatalf("the store's connections: %q, %v; want read committed", iso, err)
	}

	batchSession(t, db, "a", nil)
	batchSession(t, db, "b", nil)
	other := connect(t, u) // another instance rotating "a" first
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE sessions SET generation = 2 WHERE id = 'a'`); err != nil {
		t.Fatal(err)
	}
	var out []result
	done := make(chan struct{})
	go func() {
		defer close(done)
		out = rotateAll(t, db, []store.RotateParams{rotateParams("a"), rotateParams("b")}, 1)
	}()
	waitLockWait(t, db, "%unnest%", 1)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	if !errors.Is(out[0].err, store.ErrStale) {
		t.Errorf("a, rotated by the other instance meanwhile: %v; want ErrStale", out[0].err)
	}
	if out[1].err != nil || out[1].s.Generation != 2 {
		t.Errorf("b, in the same batch: %+v, %v; want rotated", out[1].s, out[1].err)
	}
}

// TestBatchUnreadableRow: a row the statement returns but that cannot be
// scanned (here a NULL the schema forbids, let in by the test) no longer
// fails the whole batch while the statement commits. The batch's rows are
// re-read: the ops whose rows read fine are answered with them, and the op
// whose row cannot be read is store.ErrInDoubt, which its session confirms
// (applied). Before, every op of the batch was answered with the scan error
// while every one of them had been applied.
func TestBatchUnreadableRow(t *testing.T) {
	db, _ := batchDB(t, false, Options{})
	ctx := context.Background()
	for _, id := range []string{"s1", "s2", "s3"} {
		batchSession(t, db, id, nil)
	}
	if _, err := db.pool.Exec(ctx, `
		ALTER TABLE sessions ALTER COLUMN ip DROP NOT NULL;
		CREATE FUNCTION null_ip() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.id = 's2' THEN NEW.ip := NULL; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER null_ip BEFORE UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION null_ip()`); err != nil {
		t.Fatal(err)
	}
	out := rotateAll(t, db, []store.RotateParams{rotateParams("s1"), rotateParams("s2"), rotateParams("s3")}, 1)
	for _, i := range []int{0, 2} {
		if r := out[i]; r.err != nil || r.s.Generation != 2 || r.s.ID == "" {
			t.Errorf("op %d, whose row reads fine: %+v, %v; want rotated", i, r.s, r.err)
		}
	}
	if r := out[1]; !errors.Is(r.err, store.ErrInDoubt) || !errors.Is(r.err, store.ErrUnavailable) {
		t.Errorf("op whose row cannot be read: %v; want ErrInDoubt (and ErrUnavailable)", r.err)
	}
	var gen int64
	if err := db.pool.QueryRow(ctx, `SELECT generation FROM sessions WHERE id = 's2'`).Scan(&gen); err != nil || gen != 2 {
		t.Errorf("s2: generation %d, %v; want 2 (applied)", gen, err)
	}
	t.Logf("the unreadable op: %v", out[1].err)
}

// TestBatchLeaderPanics: the goroutine running a batch panics while its own
// op is still queued (it led a batch that did not hold its op: the op was a
// second one for a session already in the batch). Every op of the batch is
// answered, the leader's own op leaves the queue instead of being handed a
// batch nobody will run, and no slot leaks: later calls, for the same
// session and others, are served. Before, the next batch went to the
// panicking goroutine's op, and with one slot every later call waited
// forever.
func TestBatchLeaderPanics(t *testing.T) {
	db, _ := batchDB(t, false, Options{MaxConns: 2}) // one batch in flight at most
	batchSession(t, db, "s1", nil)
	batchSession(t, db, "s2", nil)
	r := &db.rot
	var once sync.Once
	r.beforeStatement = func(b *rotateBatch) {
		once.Do(func() { panic("boom") })
	}
	ctx := context.Background()

	release := hold(t, db)
	first := make(chan error, 1)
	go func() { _, err := db.Rotate(ctx, rotateParams("s1")); first <- err }()
	waitQueued(t, db, 1)
	r.mu.Lock()
	r.held = false // no dispatch: the next caller takes the queue itself
	r.mu.Unlock()
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		p := rotateParams("s1")
		p.Generation = 2 // a second op for s1: it stays queued behind the first
		db.Rotate(ctx, p)
	}()
	if p := <-panicked; p != "boom" {
		t.Fatalf("the leader did not panic as arranged: %v", p)
	}
	if err := <-first; !errors.Is(err, errLeaderPanicked) {
		t.Errorf("the op of the batch whose leader panicked: %v; want errLeaderPanicked", err)
	}
	_ = release

	for _, p := range []store.RotateParams{rotateParams("s2"), rotateParams("s1")} {
		done := make(chan error, 1)
		go func() { _, err := db.Rotate(ctx, p); done <- err }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Rotate(%s) after the panic: %v", p.SessionID, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Rotate(%s) after the panic never returned: the batch slot leaked", p.SessionID)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inFlight != 0 || len(r.pending) != 0 || len(r.busy) != 0 {
		t.Errorf("after everything returned: %d in flight, %d queued, %d busy sessions; want none", r.inFlight, len(r.pending), len(r.busy))
	}
}

// laterAttemptsWaitFor makes every UPDATE of sessions but the first one in
// the test wait, before it locks any row, for advisory lock 2, which the
// test's other transaction holds until it commits. A write run again after
// a deadlock then starts only once the other transaction is done, instead
// of racing it for the rows it was about to get and deadlocking again. The
// other transaction's own UPDATE passes: it holds the lock itself.
func laterAttemptsWaitFor(t *testing.T, db *DB) {
	t.Helper()
	if _, err := db.pool.Exec(context.Background(), `
		CREATE SEQUENCE attempts;
		CREATE FUNCTION later_attempts_wait() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('attempts') > 1 THEN PERFORM pg_advisory_xact_lock(2); END IF;
			RETURN NULL;
		END $$;
		CREATE TRIGGER later_attempts_wait BEFORE UPDATE ON sessions
		FOR EACH STATEMENT EXECUTE FUNCTION later_attempts_wait()`); err != nil {
		t.Fatal(err)
	}
}

// TestRevokeRetriedOnDeadlock: a revocation that PostgreSQL aborts to break
// a deadlock is run again, as a batch of rotations is, instead of failing.
// The deadlock is arranged as in TestBatchDeadlockRetried: the revocation,
// holding the user's sessions, is held in a trigger (advisory lock 1, which
// the test holds) until another transaction waits for one of its sessions,
// and then waits for that transaction (advisory lock 2), which never checks
// for deadlocks itself.
func TestRevokeRetriedOnDeadlock(t *testing.T) {
	db, u := batchDB(t, true, Options{})
	ctx := context.Background()
	batchSession(t, db, "r1", nil)
	batchSession(t, db, "r2", nil)
	if _, err := db.pool.Exec(ctx, `
		CREATE FUNCTION pause_revocation() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.revoke_reason = 'test' THEN
				PERFORM pg_advisory_xact_lock(1);
				PERFORM pg_advisory_xact_lock(2);
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER pause_revocation BEFORE UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION pause_revocation()`); err != nil {
		t.Fatal(err)
	}
	laterAttemptsWaitFor(t, db)
	gate := connect(t, u)
	if _, err := gate.Exec(ctx, `SELECT pg_advisory_lock(1)`); err != nil {
		t.Fatal(err)
	}
	other := connect(t, u)
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL deadlock_timeout = '1h'; SELECT pg_advisory_xact_lock(2)`); err != nil {
		t.Fatal(err)
	}

	revoked := make(chan error, 1)
	var n int
	go func() {
		var err error
		n, err = db.RevokeSessions(ctx, store.RevokeParams{UserID: "u1", Reason: "test", Now: bt0.Add(time.Minute)})
		revoked <- err
	}()
	waitLockWait(t, db, "%revoked_at = $4%", 1) // holding r1 and r2, stopped at lock 1
	updated := make(chan error, 1)
	go func() {
		_, err := tx.Exec(ctx, `UPDATE sessions SET ip = '198.51.100.9' WHERE id = 'r1'`)
		updated <- err
	}()
	waitLockWait(t, db, "%198.51.100.9%", 1)
	if _, err := gate.Exec(ctx, `SELECT pg_advisory_unlock(1)`); err != nil {
		t.Fatal(err)
	}
	// The revocation now waits for lock 2, held by the transaction waiting
	// for it: PostgreSQL aborts the revocation, and the transaction goes on.
	if err := <-updated; err != nil {
		t.Fatalf("the other transaction was the deadlock's victim: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-revoked; err != nil || n != 2 {
		t.Fatalf("revocation aborted by a deadlock: %d, %v; want it run again, revoking 2", n, err)
	}
	if s := get(t, db, "r1"); !s.Revoked() || s.IP != "198.51.100.9" {
		t.Errorf("r1: %+v; want both the update and the revocation", s)
	}
}

// TestRevokeLocksInByteOrder: on a database whose collation does not sort
// in byte order (ICU en-US: "a1" before "B1"; bytes: "B1" before "a1"), a
// revocation still locks a user's sessions in the order a batch does, Go's
// byte order. The other transaction plays a batch: it locks "B1", then
// "a1". A revocation locking in the collation's order would hold "a1" while
// waiting for "B1": a deadlock, which the "batch" (the only one here that
// checks soon) would lose.
func TestRevokeLocksInByteOrder(t *testing.T) {
	u := pgtest.FreshDatabaseWith(t, `TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`)
	db := batchDBAt(t, u, Options{})
	ctx := context.Background()
	var collationFirst bool
	if err := db.pool.QueryRow(ctx, `SELECT 'a1' < 'B1'`).Scan(&collationFirst); err != nil || !collationFirst {
		t.Fatalf("the test database's collation must sort a1 before B1: %v, %v", collationFirst, err)
	}
	if _, err := db.pool.Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET deadlock_timeout = %L',
		current_database(), '1h'); END $$`); err != nil {
		t.Fatal(err)
	}
	db.pool.Reset() // the revocation's connection will not check for deadlocks soon
	batchSession(t, db, "B1", nil)
	batchSession(t, db, "a1", nil)

	batch := connect(t, u)
	tx, err := batch.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL deadlock_timeout = '100ms'; SELECT 1 FROM sessions WHERE id = 'B1' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	revoked := make(chan error, 1)
	go func() {
		_, err := db.RevokeSessions(ctx, store.RevokeParams{UserID: "u1", Reason: "signed_out_everywhere", Now: bt0.Add(time.Minute)})
		revoked <- err
	}()
	waitLockWait(t, db, "%revoked_at = $4%", 1)
	if _, err := tx.Exec(ctx, `UPDATE sessions SET generation = generation + 1 WHERE id = 'a1'`); err != nil {
		t.Fatalf("the batch's next row: %v (the revocation held it)", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-revoked; err != nil {
		t.Fatalf("revocation: %v", err)
	}
}
