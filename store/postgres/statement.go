package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/latchkey-dev/latchkey/store"
)

// Running a batch's statement, and learning what it did.
//
// What a caller is told must be what happened: a rotation reported failed
// while it committed makes the client keep a superseded token, and its
// retry, once the reuse interval has passed, revokes the session as stolen.
// A client that gives up on a statement cannot know that: pgx then cancels
// it over a new connection and drops the socket, but a statement whose lock
// was released, or whose commit was already flushing, before the cancel
// landed commits all the same. So the server is made to give up first:
// every connection of the pool has statement_timeout set a margin below
// QueryTimeout (settings.go), and the client waits the full QueryTimeout,
// measured from when the statement is sent, for the server's verdict. A
// statement stuck on a lock or a slow disk then ends with the server's own
// error (57014, query_canceled), which means rolled back; one that
// finishes in time is answered in time. The server, which holds the
// outcome, decides it; the client never guesses.
//
// Why not the other way, re-reading the batch's rows after the client gave
// up: the statement may still be running then (waiting for the very lock
// that made the client give up), so no read is conclusive until that
// backend is gone; and the re-read needs a connection and a round trip at
// the moment the database is struggling most, when it is likeliest to fail
// too. The server-side timeout needs neither, and bounds every other call
// of the store the same way.
//
// What stays in doubt, and is reported as store.ErrInDoubt (wrapped with
// store.ErrUnavailable, so HTTP still answers 503 with Retry-After):
//   - a commit slower than the margin (statement_timeout does not cover
//     the commit's WAL flush, or a synchronous standby's acknowledgement);
//   - a connection lost after the statement was sent (the server crashed,
//     failed over, or was cut off): whether the commit record made it is
//     unknown until the server is back.
//
// The service then remembers the rotation it attempted (auth's
// undelivered.go): the client's retry of the same token, on the same
// instance, finds the rotation's own write (generation and
// last_refreshed_at) and is answered with it, even after the reuse
// interval. A retry that reaches another instance is judged by the reuse
// interval alone.
//
// A row that comes back but cannot be read (a scan error) is a third case:
// the statement commits all the same. The batch's rows are then re-read on
// the same connection, which is conclusive because the statement has
// finished, and each op is answered with what its row shows (settle).

// execBatch runs the statement for the ops of b that are still wanted and
// records each op's outcome. An error is the statement's: none of b's ops
// was applied, unless the error wraps store.ErrInDoubt (see batchError).
func (db *DB) execBatch(b *rotateBatch) error {
	// Every batch locks its rows in the order of their ids (the plan walks
	// the arrays in order, probing the primary key for each), so that two
	// batches sharing sessions do not each hold a row the other waits for.
	// Byte order, as Go's strings.Compare: the revocations lock in the same
	// order (ORDER BY id COLLATE "C", sessions.go), whatever the database's
	// collation.
	slices.SortFunc(b.ops, func(x, y *rotateOp) int { return strings.Compare(x.p.SessionID, y.p.SessionID) })
	now := time.Now()
	for i, op := range b.ops {
		err := op.ctx.Err()
		if err == nil && !op.deadline.IsZero() && now.After(op.deadline) {
			err = context.DeadlineExceeded
		}
		if err != nil {
			op.err, op.answered = wrap("rotate", err), true
			continue
		}
		var key []byte
		var keyExp int64
		if pr := op.p.Proof; pr != nil {
			if slices.ContainsFunc(b.proofKey, func(k []byte) bool { return bytes.Equal(k, pr.Key) }) {
				// The same proof twice in one batch: the later one is the
				// replay (one statement could rotate both).
				op.err, op.answered = errReplay, true
				continue
			}
			key, keyExp = pr.Key, nanos(pr.Expires)
			b.proofs++
		}
		step, at, exp := rotateArgs(op.p)
		b.op = append(b.op, int32(i))
		b.jkt = append(b.jkt, op.p.JKT)
		b.proofKey = append(b.proofKey, key)
		b.proofExp = append(b.proofExp, keyExp)
		b.sid = append(b.sid, op.p.SessionID)
		b.gen = append(b.gen, op.p.Generation)
		b.step = append(b.step, step)
		b.now = append(b.now, at)
		b.exps = append(b.exps, exp)
		b.skip = append(b.skip, op.p.SkipUserCheck)
	}
	if len(b.op) == 0 {
		return nil
	}
	if db.rot.beforeStatement != nil {
		db.rot.beforeStatement(b)
	}
	db.rot.statements.Add(1)
	db.rot.rotations.Add(int64(len(b.op)))
	// Waiting for a pooled connection (or dialing one) and starting the
	// attempts are bounded by QueryTimeout; each attempt gets a QueryTimeout
	// of its own from when it is sent, so that the server's
	// statement_timeout always ends it first.
	budget, cancel := db.bound(context.Background())
	defer cancel()
	conn, err := db.pool.Acquire(budget)
	if err != nil {
		return err // nothing was sent
	}
	defer conn.Release()
	for attempt := 1; ; attempt++ {
		err := db.queryBatch(conn, b)
		// The order above does not rule out every deadlock: a plan that reads
		// sessions in physical order, or another writer locking several
		// sessions of a user at once (RevokeSessions, the session limit).
		// PostgreSQL then aborts one statement, which is rolled back whole,
		// so running it again is the same as having run it a little later.
		if err == nil || !isDeadlock(err) {
			return err
		}
		db.rot.deadlocks.Add(1)
		if attempt == deadlockRetries || budget.Err() != nil {
			return err
		}
	}
}

// queryBatch runs the statement once for b on conn and records the rows it
// returns.
func (db *DB) queryBatch(conn *pgxpool.Conn, b *rotateBatch) error {
	for _, op := range b.ops {
		op.found, op.replay, op.s = false, false, store.Session{}
	}
	ctx, cancel := db.bound(context.Background())
	defer cancel()
	var rows pgx.Rows
	var err error
	switch {
	case len(b.op) == 1 && b.proofs == 0:
		rows, err = conn.Query(ctx, rotateOneSQL, b.op[0], b.sid[0], b.gen[0], b.step[0], b.now[0], b.exps[0], b.skip[0], b.jkt[0])
	case b.proofs == 0:
		rows, err = conn.Query(ctx, rotateManySQL, b.op, b.sid, b.gen, b.step, b.now, b.exps, b.skip, b.jkt)
	case len(b.op) == 1:
		rows, err = conn.Query(ctx, rotateProofOneSQL, b.op[0], b.sid[0], b.gen[0], b.step[0], b.now[0], b.exps[0], b.skip[0], b.jkt[0],
			b.proofKey[0], b.proofExp[0])
	default:
		rows, err = conn.Query(ctx, rotateProofManySQL, b.op, b.sid, b.gen, b.step, b.now, b.exps, b.skip, b.jkt,
			b.proofKey, b.proofExp)
	}
	if err != nil {
		return err
	}
	unreadable := false
	for rows.Next() {
		if err := rows.Scan(b.dest...); err != nil {
			unreadable = true // Scan closed rows: the statement ran to its end
			break
		}
		i := int(b.opIndex)
		if i < 0 || i >= len(b.ops) {
			unreadable = true
			continue
		}
		if b.replay {
			b.ops[i].replay = true
			continue
		}
		b.ops[i].s, b.ops[i].found = b.row.session(), true
	}
	// Close reads to the statement's last message. After the last row, Err
	// includes an error that follows the rows, such as a failed commit.
	rows.Close()
	if err := rows.Err(); !unreadable || errors.As(err, new(*pgconn.PgError)) {
		return err
	}
	return db.settle(ctx, conn, b)
}

// settle answers each op of b from its session as stored, after the
// statement finished but its rows could not all be read: it then committed
// (or, if its commit failed, changed nothing) and the rows show which ops
// it applied: those at the generation and refresh time the op wrote. An
// applied op whose row cannot be read either is store.ErrInDoubt (applied,
// but unreadable); an op not applied is store.ErrUnavailable (retry). The
// statement's rows are not trusted for any op.
func (db *DB) settle(ctx context.Context, conn *pgxpool.Conn, b *rotateBatch) error {
	failed := func(err error) error {
		return fmt.Errorf("%w: the rotation's rows were unreadable, and re-reading them failed: %w", store.ErrInDoubt, err)
	}
	rows, err := conn.Query(ctx, `SELECT id, generation, last_refreshed_at FROM sessions WHERE id = ANY($1::text[])`, b.sid)
	if err != nil {
		return failed(err)
	}
	type written struct{ gen, at int64 }
	stored := make(map[string]written, len(b.sid))
	for rows.Next() {
		var id string
		var w written
		if err := rows.Scan(&id, &w.gen, &w.at); err != nil {
			return failed(err)
		}
		stored[id] = w
	}
	if err := rows.Err(); err != nil {
		return failed(err)
	}
	for k, i := range b.op {
		op := b.ops[i]
		op.answered, op.found, op.s = true, false, store.Session{}
		if w := stored[b.sid[k]]; w.gen != b.gen[k]+b.step[k] || w.at != b.now[k] {
			op.err = fmt.Errorf("postgres: rotate: %w: its statement returned an unreadable row and did not apply it", store.ErrUnavailable)
			continue
		}
		s, err := scanSession(conn.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, b.sid[k]))
		if err != nil {
			op.err = fmt.Errorf("postgres: rotate: %w: %w: applied, but its row cannot be read: %w", store.ErrInDoubt, store.ErrUnavailable, err)
			continue
		}
		op.s, op.err = s, nil
	}
	return nil
}

// batchError is the error every op of a failed statement gets: wrap's, and
// store.ErrInDoubt as well when the statement may have committed.
func batchError(err error) error {
	switch {
	case errors.Is(err, store.ErrInDoubt):
		return fmt.Errorf("postgres: rotate: %w: %w", store.ErrUnavailable, err)
	case inDoubt(err):
		return fmt.Errorf("postgres: rotate: %w: %w: %w", store.ErrInDoubt, store.ErrUnavailable, err)
	}
	return wrap("rotate", err)
}

// inDoubt reports whether err, the failure of a statement, leaves its
// outcome unknown: the server gave no verdict (a PostgreSQL error is one:
// the statement failed and was rolled back), yet something may have been
// sent (pgconn.SafeToRetry says nothing was). A panic of the goroutine
// running the statement is in doubt too: it may have struck after the
// statement was sent.
func inDoubt(err error) bool {
	return !errors.As(err, new(*pgconn.PgError)) && !pgconn.SafeToRetry(err)
}

func isDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01" // deadlock_detected
}
