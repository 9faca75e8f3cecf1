package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/latchkey-dev/latchkey/store"
)

const sessionCols = `id, user_id, generation, created_at, last_refreshed_at,
	refresh_expires_at, absolute_expires_at, revoked_at, revoke_reason,
	client_id, user_agent, ip, jkt`

// liveAt selects the sessions live at a time: not revoked, and neither
// expiry reached. It binds the time twice.
const liveAt = `revoked_at IS NULL AND refresh_expires_at > ? AND absolute_expires_at > ?`

// CreateSession inserts s and, in the same transaction, revokes with reason
// "session_limit" at s.CreatedAt the user's least recently refreshed live
// sessions beyond maxPerUser (0 = unlimited). The new session always counts
// as the most recent, whatever the other sessions' timestamps.
func (db *DB) CreateSession(ctx context.Context, s store.Session, maxPerUser int) ([]string, error) {
	var e enc
	args, now := sessionArgs(&e, s)
	if e.err != nil {
		return nil, e.err
	}
	var evicted []string
	// Through the group commit (batch.go), inside a SAVEPOINT: a duplicate id
	// fails this sign-in alone.
	err := db.submit(ctx, true, func(t *wtx) error {
		evicted = evicted[:0]
		return createSession(t, s, args, now, maxPerUser, &evicted)
	})
	if err != nil {
		return nil, db.wrap(ctx, "create session", err)
	}
	return evicted, nil
}

// sessionArgs returns s's columns in sessionCols order, and its creation
// time, encoded.
func sessionArgs(e *enc, s store.Session) ([]any, any) {
	return []any{s.ID, s.UserID, s.Generation, e.time(s.CreatedAt), e.time(s.LastRefreshedAt),
		e.time(s.RefreshExpiresAt), e.time(s.AbsoluteExpiresAt), e.time(s.RevokedAt),
		s.RevokeReason, s.ClientID, s.UserAgent, s.IP, s.JKT}, e.time(s.CreatedAt)
}

// createSession is CreateSession's write: args are the session's columns in
// sessionCols order, now its creation time, encoded.
func createSession(t *wtx, s store.Session, args []any, now any, maxPerUser int, evicted *[]string) error {
	if _, err := t.exec(`INSERT INTO sessions (`+sessionCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
		if constraintOnly(err) {
			return expected(err)
		}
		return err
	}
	if maxPerUser <= 0 {
		return nil
	}
	// Keep the newest maxPerUser-1 others (OFFSET), revoke the rest.
	if err := t.rows(`UPDATE sessions SET revoked_at = ?, revoke_reason = 'session_limit'
		WHERE id IN (
			SELECT id FROM sessions
			WHERE user_id = ? AND id <> ? AND `+liveAt+`
			ORDER BY last_refreshed_at DESC, created_at DESC, id DESC
			LIMIT -1 OFFSET ?)
		RETURNING id`, []any{now, s.UserID, s.ID, now, now, maxPerUser - 1},
		func(st *sqlite3.Stmt) error {
			*evicted = append(*evicted, st.ColumnText(0))
			return nil
		}); err != nil {
		return err
	}
	// The events of the evictions: their cause, and so their txn, is
	// this sign-in.
	for _, id := range *evicted {
		if err := recordEvent(t, store.EventSessionRevoked, id, s.UserID, "session_limit", s.ID, now); err != nil {
			return err
		}
	}
	return nil
}

// Session returns the session with id in whatever state, or
// store.ErrNotFound.
func (db *DB) Session(ctx context.Context, id string) (store.Session, error) {
	s, err := scanSession(db.r.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("sqlite: session: %w", store.ErrNotFound)
	}
	return s, db.wrap(ctx, "session", err)
}

// ListSessions returns the sessions live at now, of userID or of everyone
// when userID is "", most recently refreshed first.
func (db *DB) ListSessions(ctx context.Context, userID string, now time.Time) ([]store.Session, error) {
	var e enc
	n := e.time(now)
	if e.err != nil {
		return nil, e.err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+sessionCols+` FROM sessions
		WHERE (? = '' OR user_id = ?) AND `+liveAt+`
		ORDER BY last_refreshed_at DESC, created_at DESC, id DESC`, userID, userID, n, n)
	if err != nil {
		return nil, db.wrap(ctx, "list sessions", err)
	}
	defer rows.Close()
	var list []store.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, db.wrap(ctx, "list sessions", err)
		}
		list = append(list, s)
	}
	return list, db.wrap(ctx, "list sessions", rows.Err())
}

// The revocations: of one session, and of a user's sessions but one (the
// exception may be ""). Sessions revoked already keep their first time and
// reason. Each returns the sessions it revoked, for their events
// (revokeRecorded).
const (
	revokeByID   = `UPDATE sessions SET revoked_at = ?, revoke_reason = ? WHERE revoked_at IS NULL AND id = ? RETURNING id, user_id`
	revokeByUser = `UPDATE sessions SET revoked_at = ?, revoke_reason = ? WHERE revoked_at IS NULL AND user_id = ? AND id <> ? RETURNING id, user_id`
)

// RevokeSessions revokes the selected sessions that are not revoked yet; an
// already revoked session keeps its first time and reason.
func (db *DB) RevokeSessions(ctx context.Context, p store.RevokeParams) (int, error) {
	var e enc
	now := e.time(p.Now)
	if e.err != nil {
		return 0, e.err
	}
	if (p.SessionID == "") == (p.UserID == "") {
		// Never fall through to an unfiltered UPDATE that signs everyone out.
		return 0, errors.New("sqlite: revoke sessions: exactly one of SessionID and UserID must be set")
	}
	if p.PasswordHash != "" {
		if p.UserID == "" {
			return 0, errors.New("sqlite: revoke sessions: a password change needs UserID")
		}
		res, err := db.SetPassword(ctx, store.PasswordChange{UserID: p.UserID, NewHash: p.PasswordHash,
			ExceptSessionID: p.ExceptSessionID, Reason: p.Reason, Now: p.Now, Txn: p.Txn})
		return res.Revoked, err
	}
	txn := txnOf(p.Txn)
	// Through the group commit (batch.go), so that a revocation is ordered
	// with the rotations around it and is never starved by them; its events
	// are part of the same write.
	var n int64
	err := db.submit(ctx, false, func(t *wtx) error {
		var err error
		if p.SessionID != "" {
			n, err = revokeRecorded(t, revokeByID, []any{now, p.Reason, p.SessionID}, p.Reason, txn, now)
		} else {
			n, err = revokeRecorded(t, revokeByUser, []any{now, p.Reason, p.UserID, p.ExceptSessionID}, p.Reason, txn, now)
		}
		return err
	})
	return int(n), db.wrap(ctx, "revoke sessions", err)
}

// purgeScan is how many sessions, in key order, one write of Purge looks at:
// a few milliseconds of work, so the writes queued behind it (refreshes
// above all) wait no longer than that.
const purgeScan = 1000

// purgePause is the shortest pause between two chunks of a purge.
const purgePause = 2 * time.Millisecond

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Purge deletes the sessions revoked or expired (refresh or absolute expiry)
// strictly before olderThan, the single-use tokens expired strictly before
// olderThan, and the signing keys retired strictly before keyRetiredBefore.
// It returns the number of sessions deleted.
//
// SQLite has one writer, and one DELETE of a large backlog held it for
// seconds: every refresh waited behind it, some timed out, and the WAL grew
// by the size of the deletion and stayed that size. So the sessions are
// deleted in bounded, key-ordered chunks (sessions is clustered on id:
// each chunk is the next purgeScan ids after the last one), each one write
// of the group commit (batch.go), so the refreshes queued meanwhile are
// committed between two chunks. A purge usually runs in a process of its
// own (latchkey purge) beside a serving one, whose writer then waits for
// SQLite's write lock in its busy handler, retrying every millisecond or
// two: so after each chunk the purge also pauses as long as the chunk held
// the lock (at least purgePause), and the server's writer gets the lock at
// least half the time. Each chunk commits on its own: a purge that stops
// half way (ctx ends, the process stops) has deleted what it deleted, and
// the next one goes on. Finally the WAL is checkpointed and truncated
// (checkpoint).
func (db *DB) Purge(ctx context.Context, olderThan, keyRetiredBefore time.Time) (int64, error) {
	var e enc
	cut, keyCut := e.time(olderThan), e.time(keyRetiredBefore)
	if e.err != nil {
		return 0, e.err
	}
	var total int64
	for after, done := "", false; !done; {
		if err := ctx.Err(); err != nil {
			return total, db.wrap(ctx, "purge", err)
		}
		var n int64
		var last string
		start := time.Now()
		err := db.submit(ctx, false, func(t *wtx) error {
			n, last, done = 0, "", true
			var scanned int64
			if err := t.rows(`SELECT max(id), count(*) FROM (SELECT id FROM sessions WHERE id > ? ORDER BY id LIMIT ?)`,
				[]any{after, purgeScan}, func(st *sqlite3.Stmt) error {
					last, scanned = st.ColumnText(0), st.ColumnInt64(1)
					return nil
				}); err != nil || scanned == 0 {
				return err
			}
			done = scanned < purgeScan
			var err error
			n, err = t.exec(`DELETE FROM sessions WHERE id > ?1 AND id <= ?2
				AND (revoked_at < ?3 OR refresh_expires_at < ?3 OR absolute_expires_at < ?3)`, after, last, cut)
			return err
		})
		if err != nil {
			return total, db.wrap(ctx, "purge", err)
		}
		total, after = total+n, last
		if !done {
			if err := pause(ctx, max(time.Since(start), purgePause)); err != nil {
				return total, db.wrap(ctx, "purge", err)
			}
		}
	}
	if _, err := db.PurgeProofs(ctx, olderThan); err != nil {
		return total, err
	}
	// The tokens (a few rows: at most one per user and kind) and the keys,
	// in one last write.
	err := db.submit(ctx, false, func(t *wtx) error {
		if _, err := t.exec(`DELETE FROM user_tokens WHERE expires_at < ?`, cut); err != nil {
			return err
		}
		_, err := t.exec(`DELETE FROM signing_keys WHERE retired_at < ?`, keyCut)
		return err
	})
	if err != nil {
		return total, db.wrap(ctx, "purge", err)
	}
	return total, db.wrap(ctx, "purge: checkpoint", db.checkpoint(ctx))
}

// checkpoint copies the WAL into the database file and truncates it to
// zero bytes (a TRUNCATE checkpoint), so that the space a purge wrote is
// given back at once rather than kept until the process restarts. It runs
// on the writer connection between two group commits, and waits for
// readers of older snapshots up to the busy timeout; it is quick because
// the chunks were checkpointed as they went (SQLite checkpoints after a
// commit once the WAL passes 1,000 pages).
func (db *DB) checkpoint(ctx context.Context) error {
	var busy, logPages, done int
	return db.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logPages, &done)
}

func scanSession(s scanner) (store.Session, error) {
	var (
		x                                     store.Session
		created, refreshed, expires, absolute int64
		revoked                               sql.NullInt64
	)
	err := s.Scan(&x.ID, &x.UserID, &x.Generation, &created, &refreshed, &expires, &absolute,
		&revoked, &x.RevokeReason, &x.ClientID, &x.UserAgent, &x.IP, &x.JKT)
	if err != nil {
		return store.Session{}, err
	}
	x.CreatedAt, x.LastRefreshedAt = fromNanos(created), fromNanos(refreshed)
	x.RefreshExpiresAt, x.AbsoluteExpiresAt = fromNanos(expires), fromNanos(absolute)
	x.RevokedAt = fromNull(revoked)
	return x, nil
}

// readSession is scanSession for the writer's own statements: the row at s,
// in sessionCols order.
func readSession(s *sqlite3.Stmt) store.Session {
	x := store.Session{ID: s.ColumnText(0), UserID: s.ColumnText(1), Generation: s.ColumnInt64(2),
		CreatedAt: fromNanos(s.ColumnInt64(3)), LastRefreshedAt: fromNanos(s.ColumnInt64(4)),
		RefreshExpiresAt: fromNanos(s.ColumnInt64(5)), AbsoluteExpiresAt: fromNanos(s.ColumnInt64(6)),
		RevokeReason: s.ColumnText(8), ClientID: s.ColumnText(9), UserAgent: s.ColumnText(10), IP: s.ColumnText(11),
		JKT: s.ColumnText(12)}
	if s.ColumnType(7) != sqlite3.NULL {
		x.RevokedAt = fromNanos(s.ColumnInt64(7))
	}
	return x
}

// PurgeProofs deletes the used DPoP proofs that expired before before, in
// chunks of purgeScan rows (one group commit each), so the writer is never
// held long.
func (db *DB) PurgeProofs(ctx context.Context, before time.Time) (int64, error) {
	var e enc
	cut := e.time(before)
	if e.err != nil {
		return 0, e.err
	}
	var total int64
	for {
		var n int64
		err := db.submit(ctx, false, func(t *wtx) error {
			var err error
			n, err = t.exec(`DELETE FROM dpop_jti WHERE key IN (
				SELECT key FROM dpop_jti WHERE expires_at < ? LIMIT ?)`, cut, purgeScan)
			return err
		})
		if err != nil {
			return total, db.wrap(ctx, "purge proofs", err)
		}
		total += n
		if n < purgeScan {
			return total, nil
		}
		if err := pause(ctx, purgePause); err != nil {
			return total, db.wrap(ctx, "purge proofs", err)
		}
	}
}
