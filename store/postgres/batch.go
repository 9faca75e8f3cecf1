package postgres

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// Group commit of Rotate.
//
// A refresh is one single-row compare-and-set, and on its own it costs
// PostgreSQL far more than the row: binding and executing a statement, a
// round trip, and a commit with its WAL flush. Under load those costs, not
// the rows, are what the database spends its CPU on. So concurrent Rotate
// calls of one process are combined: whatever is queued (up to
// maxRotateBatch, never waiting for more, so an idle server adds no latency
// and a lone Rotate runs at once) goes into ONE statement (rotateManySQL) that
// rotates every session of the batch in one round trip and one commit.
//
// The guarantees are those of a statement of one's own:
//   - A refresh is acknowledged only once the statement carrying it has
//     committed: Rotate returns after the statement's last message
//     (ReadyForQuery, which follows the implicit commit), never before.
//   - An op's expected failure is its own: a session that is stale, expired,
//     revoked, unknown or whose user is inactive simply returns no row, and
//     that op alone gets store.ErrStale; the others are applied.
//   - Any other failure the server reports (its statement_timeout, a
//     terminated backend, a failed commit) fails the whole statement, which
//     PostgreSQL rolls back as a unit, and every op of the batch gets that
//     error through wrap, so an outage is still store.ErrUnavailable. None
//     was applied, none is acknowledged.
//   - A failure that leaves the outcome unknown (the connection lost after
//     the statement was sent, a commit slower than the margin between the
//     server's statement_timeout and QueryTimeout) is store.ErrInDoubt for
//     every op of the batch, never a plain failure; a row that comes back
//     unreadable is settled by re-reading the rows. See statement.go for
//     why the server's timeout, not the client's, decides.
//   - A batch holds at most one op per session, and an op for a session
//     that a batch in flight carries waits until that batch has finished:
//     ops for one session run in queue order, one statement after the
//     other (two touches of one generation with rotation off both succeed;
//     two rotations of one generation: exactly one does, the first queued).
//   - The statement runs under a context bounded by QueryTimeout alone, not
//     under any caller's: one caller giving up must not abort the refreshes
//     of others. A caller whose context ends while it is still queued leaves
//     the queue with its context's error, and an op found queued for longer
//     than QueryTimeout when its batch forms is failed with
//     context.DeadlineExceeded (store.ErrUnavailable) instead of being run.
//     An op already in a running batch waits for the outcome, so that what
//     its caller learns is what happened.
//   - A panic of the goroutine running a batch answers every op of it (and
//     of a batch already handed to that goroutine) instead of leaving them
//     waiting, and frees their slots (runBatch).
//
// Mechanics: there is no writer goroutine. A caller that may start a batch
// takes the queue and runs the batch itself; otherwise it queues and sleeps.
// When a batch ends, its leader hands the next batch, if ops are queued, to
// the caller of the first of them, waking it, and then answers its own ops:
// the one signal each op gets either answers it or makes its caller the next
// leader. Close needs nothing special: no statement runs outside the
// callers' goroutines (the stall timer below only hands batches to callers),
// and ops queued when the pool closes run against the closed pool and fail
// like any call after Close.
//
// How many batches run at once: one, as a rule, and up to maxInFlight (each
// on its own pool connection) when it pays. Every extra statement in flight
// splits the queue into smaller batches, and PostgreSQL's CPU per refresh
// grows with the number of statements, not of rows: measured with 32
// callers on 2 cores, four batches in flight at all times cost the server
// about twice the CPU per refresh of one or two. So a further batch starts
// only while the queue is long (spareBatchMin ops: the running batches are
// not keeping up) or the newest running batch has been going for
// stallAfter, far longer than a commit takes (a lock wait, a slow disk, a
// connection being redialed), so that one slow statement does not hold up
// the process. PostgreSQL's row locks and re-checks order concurrent
// batches exactly as they order single-row statements (see rotateManySQL).

const (
	// maxRotateBatch caps a batch: beyond a hundred or so rows the statement's
	// per-row work dominates anyway, and a cap keeps one batch's latency, and
	// the time its row locks are held, bounded.
	maxRotateBatch = 128
	// maxRotateInFlight caps the batches running at once (see rotateInFlight).
	maxRotateInFlight = 4
	// spareBatchMin is how many queued ops justify a further batch while one
	// is running.
	spareBatchMin = 16
	// stallAfter is how long the newest running batch may take before queued
	// ops get a batch of their own anyway. A batch normally takes well under
	// a millisecond (a round trip and a commit), a few on a saturated server.
	stallAfter = 10 * time.Millisecond
)

// rotateInFlight returns how many batches may run at once on a pool of
// maxConns connections: at most half of them, so that the other calls
// (reading a session, signing in) always find connections, and at least one.
func rotateInFlight(maxConns int32) int {
	return max(1, min(maxRotateInFlight, int(maxConns)/2))
}

// rotator queues Rotate calls and runs them in batches.
type rotator struct {
	maxInFlight  int           // set by Open
	queryTimeout time.Duration // the DB's; <= 0: ops may stay queued as long as it takes

	mu       sync.Mutex
	pending  []*rotateOp // queued, oldest first
	inFlight int         // batches taken and not yet finished
	started  time.Time   // when the newest of them was taken
	// held stops batches from starting (ops queue up meanwhile). Only tests
	// set it, to put chosen ops into one batch.
	held bool
	// beforeStatement, when not nil, is called with each batch just before
	// its statement runs. Only tests set it (to make a leader panic).
	beforeStatement func(*rotateBatch)
	// timer runs kick when the running batches have stalled (see
	// armLocked); timerSet says it is due to.
	timer    *time.Timer
	timerSet bool
	seen     map[string]struct{} // takeLocked's scratch, kept to save allocations
	// busy holds the sessions of the batches in flight: a later op for one
	// of them waits until that batch has finished (see takeLocked).
	busy map[string]struct{}

	statements atomic.Int64 // statements run (deadlock retries not counted)
	rotations  atomic.Int64 // ops those statements carried
	deadlocks  atomic.Int64 // statements PostgreSQL aborted to break a deadlock (each retried)
}

// rotateOp is one Rotate call.
type rotateOp struct {
	ctx      context.Context // the caller's
	p        store.RotateParams
	deadline time.Time // queued past it, the op is failed, not run; zero: none

	// The outcome, written by the batch's leader before the op's wake signal
	// (or by the caller itself when it leads or leaves), read by the caller
	// after it.
	s        store.Session
	err      error
	answered bool // s and err are settled apart from the statement's outcome (see execBatch, settle)
	found    bool // the statement returned the op's row: s is set
	replay   bool // the statement found the op's DPoP proof recorded already

	// lead is set, before the wake signal, when the caller is to run this
	// batch.
	lead *rotateBatch

	queued bool // in rotator.pending; guarded by rotator.mu

	// wake carries the one signal an op taken from the queue gets: answered,
	// or lead is set. Capacity 1, so that signalling never blocks the leader.
	wake chan struct{}
}

// ops are reused: a Rotate would otherwise allocate its op and its channel.
var opPool = sync.Pool{New: func() any { return &rotateOp{wake: make(chan struct{}, 1)} }}

// rotateBatch is one statement's worth of ops and the buffers that run it,
// reused from batch to batch.
type rotateBatch struct {
	ops []*rotateOp

	// The statement's parameters, one element per op that runs (rotateManySQL's
	// v.op, v.sid, v.gen, v.step, v.now_ns, v.exp_ns, v.skip_user); op is the
	// index in ops.
	op                   []int32
	sid                  []string
	gen, step, now, exps []int64
	skip                 []bool
	jkt                  []string
	// proofKey and proofExp are v.proof_key and v.proof_exp (nil and 0 for
	// a refresh without a proof); proofs is how many ops have one (0: the
	// plain statement runs).
	proofKey [][]byte
	proofExp []int64
	proofs   int

	// opIndex and row are the scan targets of one returned row, and dest
	// points at them, built once.
	opIndex int32
	replay  bool
	row     sessionRow
	dest    []any
}

var batchPool = sync.Pool{New: func() any {
	b := &rotateBatch{}
	b.dest = b.row.dest(append(make([]any, 0, 15), &b.opIndex, &b.replay))
	return b
}}

// rotate queues one op and returns its outcome, running batches when it is
// its caller's turn to lead.
func (r *rotator) rotate(db *DB, ctx context.Context, p store.RotateParams) (store.Session, error) {
	op := opPool.Get().(*rotateOp)
	op.ctx, op.p = ctx, p
	if r.queryTimeout > 0 {
		// The bound of a queued op. (Not a context.WithTimeout per call: the
		// timer costs more than the check at formation.)
		op.deadline = time.Now().Add(r.queryTimeout)
	}
	r.mu.Lock()
	op.queued = true
	r.pending = append(r.pending, op)
	var b *rotateBatch
	if r.canStartLocked() {
		// Usually the queue was empty and this batch is this op alone, run
		// without a hop to another goroutine.
		b = r.takeLocked()
	}
	if b == nil {
		r.armLocked()
	}
	r.mu.Unlock()
	for {
		if b != nil && db.runBatch(op, b) {
			break
		}
		// Not in the batch it led (a queue longer than a batch): wait.
		if b = r.wait(op); b == nil {
			break
		}
	}
	s, err := op.s, op.err
	*op = rotateOp{wake: op.wake}
	opPool.Put(op)
	return s, err
}

// wait sleeps until op is answered (it returns nil) or its caller is to lead
// a batch (it returns the batch). If op's context ends while op is still
// queued, op leaves the queue answered with the context's error.
func (r *rotator) wait(op *rotateOp) *rotateBatch {
	select {
	case <-op.wake:
	case <-op.ctx.Done():
		r.mu.Lock()
		if op.queued {
			r.leaveLocked(op)
			r.mu.Unlock()
			op.err = wrap("rotate", op.ctx.Err())
			return nil
		}
		r.mu.Unlock()
		// Taken into a batch already: its leader will answer, or hand it on.
		<-op.wake
	}
	b := op.lead
	op.lead = nil
	return b
}

// canStartLocked reports whether a batch may start now (see the policy
// above).
func (r *rotator) canStartLocked() bool {
	switch {
	case r.held || r.inFlight >= r.maxInFlight:
		return false
	case r.inFlight == 0 || len(r.pending) >= spareBatchMin:
		return true
	}
	return time.Since(r.started) >= stallAfter
}

// takeLocked takes a batch from the queue, oldest first: up to
// maxRotateBatch ops, at most one per session, and none for a session that
// a batch in flight carries. The ops it leaves stay queued, in order, for a
// later batch, which therefore starts only after the batch carrying the
// earlier op of their session has finished: ops for one session run in the
// order they were queued, one statement after the other, whatever the stall
// timer starts meanwhile. It counts the batch in flight, or returns nil,
// counting nothing, when no queued op may start yet.
func (r *rotator) takeLocked() *rotateBatch {
	b := batchPool.Get().(*rotateBatch)
	if r.seen == nil {
		r.seen = make(map[string]struct{}, maxRotateBatch)
		r.busy = make(map[string]struct{}, maxRotateBatch)
	}
	kept := r.pending[:0]
	for _, op := range r.pending {
		if len(b.ops) < maxRotateBatch {
			_, dup := r.seen[op.p.SessionID]
			_, running := r.busy[op.p.SessionID]
			if !dup && !running {
				r.seen[op.p.SessionID] = struct{}{}
				op.queued = false
				b.ops = append(b.ops, op)
				continue
			}
		}
		kept = append(kept, op)
	}
	clear(r.pending[len(kept):]) // no stale pointers to ops taken
	r.pending = kept
	clear(r.seen)
	if len(b.ops) == 0 {
		batchPool.Put(b)
		return nil
	}
	for _, op := range b.ops {
		r.busy[op.p.SessionID] = struct{}{}
	}
	r.inFlight++
	r.started = time.Now()
	return b
}

// dispatchLocked starts the batches that may start, each led by the caller
// of its first op.
func (r *rotator) dispatchLocked() {
	for len(r.pending) > 0 && r.canStartLocked() {
		b := r.takeLocked()
		if b == nil {
			break // every queued op waits for a batch in flight
		}
		lead := b.ops[0]
		lead.lead = b
		lead.wake <- struct{}{}
	}
	r.armLocked()
}

// armLocked sets the timer that starts a batch for the ops still queued once
// the newest running batch has taken stallAfter, in case no call arrives
// meanwhile to notice (every caller may be waiting in the queue).
func (r *rotator) armLocked() {
	if r.timerSet || len(r.pending) == 0 || r.held || r.inFlight == 0 || r.inFlight >= r.maxInFlight {
		return
	}
	d := stallAfter - time.Since(r.started)
	if r.timer == nil {
		r.timer = time.AfterFunc(d, r.kick)
	} else {
		r.timer.Reset(d)
	}
	r.timerSet = true
}

// kick is the stall timer's function: it starts the batches now due.
func (r *rotator) kick() {
	r.mu.Lock()
	r.timerSet = false
	r.dispatchLocked()
	r.mu.Unlock()
}

// errLeaderPanicked answers the ops of a batch whose leader panicked (the
// panic goes on; the other callers must not wait forever).
var errLeaderPanicked = errors.New("the goroutine running the batch panicked")

// runBatch runs b, frees its slot (handing the queue on), answers its ops,
// and reports whether self, the leader's own op, was in b and is answered.
//
// If the statement's goroutine panics, every op of b is answered with
// errLeaderPanicked and the panic goes on; but the leader's own op may
// still be queued, or may already have been handed the next batch to lead,
// and its caller will never run it. So it leaves the queue first, and a
// batch handed to it is failed like b, which frees that batch's slot too:
// no op waits for a leader that is gone, and no slot leaks.
func (db *DB) runBatch(self *rotateOp, b *rotateBatch) (mine bool) {
	defer func() {
		if p := recover(); p != nil {
			r := &db.rot
			r.mu.Lock()
			r.leaveLocked(self)
			r.mu.Unlock()
			r.finish(self, b, errLeaderPanicked)
			r.mu.Lock()
			next := self.lead
			self.lead = nil
			r.mu.Unlock()
			if next != nil {
				r.finish(self, next, errLeaderPanicked)
			}
			panic(p)
		}
	}()
	err := db.execBatch(b)
	return db.rot.finish(self, b, err)
}

// leaveLocked takes op out of the queue if it is still there.
func (r *rotator) leaveLocked(op *rotateOp) {
	if !op.queued {
		return
	}
	i := slices.Index(r.pending, op)
	r.pending = slices.Delete(r.pending, i, i+1)
	op.queued = false
}

// finish frees b's slot and hands the queue on, then answers every op of b:
// err, if not nil, fails every op the statement carried. It reports whether
// self was among them (self is answered but not signalled: its caller is the
// one running finish).
func (r *rotator) finish(self *rotateOp, b *rotateBatch, err error) (mine bool) {
	r.mu.Lock()
	r.inFlight--
	for _, op := range b.ops {
		delete(r.busy, op.p.SessionID)
	}
	r.dispatchLocked()
	r.mu.Unlock()

	var failed error
	if err != nil {
		failed = batchError(err) // one error value shared by the batch
	}
	for _, op := range b.ops {
		switch {
		case op.answered:
		case failed != nil:
			op.s, op.err = store.Session{}, failed
		case op.replay:
			op.err = errReplay
		case !op.found:
			op.err = errStale
		}
		if op == self {
			mine = true
		} else {
			op.wake <- struct{}{} // the last touch: its caller may reuse op now
		}
	}
	clear(b.ops)
	clear(b.sid)
	clear(b.jkt)
	clear(b.proofKey)
	b.ops, b.op, b.sid, b.gen, b.step, b.now, b.exps, b.skip =
		b.ops[:0], b.op[:0], b.sid[:0], b.gen[:0], b.step[:0], b.now[:0], b.exps[:0], b.skip[:0]
	b.jkt, b.proofKey, b.proofExp, b.proofs = b.jkt[:0], b.proofKey[:0], b.proofExp[:0], 0
	b.row = sessionRow{}
	batchPool.Put(b)
	return mine
}

// BatchStats returns how many statements Rotate has run and how many
// refreshes they carried: rotations/statements is the mean batch size.
func (db *DB) BatchStats() (statements, rotations int64) {
	return db.rot.statements.Load(), db.rot.rotations.Load()
}
