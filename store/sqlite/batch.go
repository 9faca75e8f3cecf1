package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3"
)

// Group commit.
//
// With synchronous=FULL every COMMIT waits for an fsync of the WAL, ~600 µs
// on the machine docs/performance.md was measured on, so one transaction per
// refresh tops out near 1,600 refreshes/s however many goroutines ask. The
// batching writer keeps every rotation durable and lifts that ceiling: the
// writes (Rotate, CreateSession, RevokeSessions, DeactivateUser, CreateUser,
// and the rare ones too: signing keys, secrets, each chunk of a purge)
// queue, one goroutine takes whatever is queued (up to maxBatch, never
// waiting for more: an idle server adds no latency), runs each write in turn
// inside ONE IMMEDIATE transaction, COMMITs once, and only then answers every
// caller. A caller therefore learns of success only when its write is on
// disk, exactly as with a transaction of its own.
//
// Each write keeps its own semantics inside the shared transaction:
//   - Rotate is a single compare-and-set UPDATE … RETURNING. The writes of one
//     batch run one after the other, each seeing the ones before it, so two
//     rotations of the same generation in one batch cannot both match: the
//     second sees the generation the first wrote and gets store.ErrStale.
//   - A write that fails in an expected way (a stale Rotate, a duplicate
//     CreateSession) changes nothing and does not disturb the others: a
//     single statement is atomic, and multi-statement writes run inside a
//     SAVEPOINT that is rolled back on failure.
//   - Any other failure (I/O error, full disk, interrupted statement) or a
//     failed COMMIT rolls the whole transaction back and every write of the
//     batch fails with it (store.ErrUnavailable): none of them was committed,
//     and none of them was acknowledged.
//
// The statements run under the writer's own context, not the callers': one
// caller giving up must not interrupt a transaction that carries the writes
// of others. A caller whose context ends while its write is still queued
// leaves at once with its context's error, and the writer skips the write;
// once the writer has taken it, the caller waits for the outcome, so that
// what it learns is what happened.
//
// The writer connection never stays inside a transaction after a batch: a
// ROLLBACK that fails is tried again, and if the connection is still in a
// transaction it is discarded (withRaw) and database/sql opens another,
// instead of every later BEGIN IMMEDIATE failing on it.
const maxBatch = 128

// writeOp is one queued write.
type writeOp struct {
	ctx context.Context
	// fn runs the write inside the batch's transaction. An error it returns
	// that is not marked with expected aborts the whole batch.
	fn func(t *wtx) error
	// savepoint runs fn inside its own SAVEPOINT, for writes of several
	// statements that must be undone together when fn fails as expected.
	savepoint bool
	err       error
	done      chan struct{}
	// state is opQueued until the writer takes the op (opTaken) or its
	// caller gives up waiting for that (opAbandoned); whichever moves it
	// first decides.
	state atomic.Int32
}

const (
	opQueued int32 = iota
	opTaken
	opAbandoned
)

// opFailed marks the expected failure of one write (its own business: a
// stale generation, a conflict); the batch carries on.
type opFailed struct{ err error }

func (e opFailed) Error() string { return e.err.Error() }
func (e opFailed) Unwrap() error { return e.err }

// expected wraps err as a failure of this write alone.
func expected(err error) error { return opFailed{err} }

// startWriter starts the goroutine that commits queued writes.
func (db *DB) startWriter() {
	db.queue = make(chan *writeOp, 4*maxBatch)
	db.writerDone = make(chan struct{})
	go db.writeLoop()
}

// submit queues fn and waits until the batch holding it has committed (or
// failed). If ctx ends while fn is still queued, it returns ctx's error and
// fn never runs; once the writer has taken fn, it waits for the outcome
// even if ctx ends, so that what it returns is what happened.
func (db *DB) submit(ctx context.Context, savepoint bool, fn func(t *wtx) error) error {
	op := &writeOp{ctx: ctx, fn: fn, savepoint: savepoint, done: make(chan struct{})}
	db.submitMu.RLock()
	if db.closed.Load() {
		db.submitMu.RUnlock()
		return sql.ErrConnDone
	}
	select {
	case db.queue <- op:
	case <-ctx.Done():
		db.submitMu.RUnlock()
		return ctx.Err()
	}
	db.submitMu.RUnlock()
	select {
	case <-op.done:
	case <-ctx.Done():
		if op.state.CompareAndSwap(opQueued, opAbandoned) {
			return ctx.Err()
		}
		<-op.done
	}
	return op.err
}

// stopWriter lets the writer commit what is queued, then stops it. Later
// submits fail with store.ErrUnavailable.
func (db *DB) stopWriter() {
	db.submitMu.Lock()
	if db.queue != nil && !db.writerStopped {
		db.writerStopped = true
		close(db.queue)
		<-db.writerDone
	}
	db.submitMu.Unlock()
}

func (db *DB) writeLoop() {
	defer close(db.writerDone)
	batch := make([]*writeOp, 0, maxBatch)
	for op := range db.queue {
		batch = batch[:0]
		if op.state.CompareAndSwap(opQueued, opTaken) {
			batch = append(batch, op)
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case op, ok := <-db.queue:
				if !ok {
					break drain
				}
				if op.state.CompareAndSwap(opQueued, opTaken) { // else its caller left
					batch = append(batch, op)
				}
			default:
				break drain
			}
		}
		if len(batch) == 0 {
			continue
		}
		db.commitBatch(batch)
		db.commits.Add(1)
		db.commitWrites.Add(int64(len(batch)))
		clear(batch)
	}
}

// commitBatch runs batch in one transaction and answers every op.
func (db *DB) commitBatch(batch []*writeOp) {
	fail := func(err error) {
		for _, op := range batch {
			if op.err == nil || isOpFailed(op.err) {
				op.err = err
			}
			close(op.done)
		}
	}
	err := db.withRaw(context.Background(), func(t *wtx) error { return runBatch(t, batch) })
	if err != nil {
		fail(err)
		return
	}
	for _, op := range batch {
		if f, ok := op.err.(opFailed); ok {
			op.err = f.err
		}
		close(op.done)
	}
}

// runBatch runs every op of batch in one IMMEDIATE transaction and commits
// it. An op's expected failure is left in op.err; any other failure rolls the
// transaction back and is returned.
func runBatch(t *wtx, batch []*writeOp) error {
	// IMMEDIATE takes the write lock at BEGIN, so another process holding
	// it makes us wait busy_timeout once, instead of failing mid-transaction
	// on a lock upgrade that cannot be retried.
	if _, err := t.exec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.err = expected(err)
			continue
		}
		if err := runOp(t, op); err != nil {
			if !isOpFailed(err) {
				return fmt.Errorf("batch of %d writes rolled back: %w", len(batch), errors.Join(err, t.rollback()))
			}
			op.err = err
		}
	}
	if _, err := t.exec("COMMIT"); err != nil {
		return fmt.Errorf("commit of %d writes: %w", len(batch), errors.Join(err, t.rollback()))
	}
	return nil
}

// rollback ends the transaction if one is still open (SQLite rolls back by
// itself after some errors). If the connection is still inside a
// transaction afterwards, withRaw discards it.
func (t *wtx) rollback() error {
	if t.c.GetAutocommit() {
		return nil
	}
	_, err := t.exec("ROLLBACK")
	return err
}

func runOp(t *wtx, op *writeOp) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sqlite: write panicked: %v", r)
		}
	}()
	if !op.savepoint {
		return op.fn(t)
	}
	if _, err := t.exec("SAVEPOINT op"); err != nil {
		return err
	}
	if err := op.fn(t); err != nil {
		if !isOpFailed(err) {
			return err
		}
		_, rerr := t.exec("ROLLBACK TO op")
		if rerr == nil {
			_, rerr = t.exec("RELEASE op")
		}
		if rerr != nil {
			return errors.Join(err.(opFailed).err, rerr)
		}
		return err
	}
	_, err = t.exec("RELEASE op")
	return err
}

func isOpFailed(err error) bool {
	_, ok := err.(opFailed)
	return ok
}

// constraintOnly reports whether err is a constraint violation: the failing
// statement was undone by SQLite and the transaction goes on.
func constraintOnly(err error) bool {
	return errors.Is(err, sqlite3.CONSTRAINT)
}

// BatchStats returns how many group commits the writer has run (or tried)
// and how many writes they carried: writes/batches is the mean batch size.
func (db *DB) BatchStats() (batches, writes int64) { return db.commits.Load(), db.commitWrites.Load() }
