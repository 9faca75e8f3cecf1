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
	client_id, user_agent, ip`

// liveAt selects the sessions live at a time: not revoked, and neither
// expiry reached. It binds the time twice.
const liveAt = `revoked_at IS NULL AND refresh_expires_at > ? AND absolute_expires_at > ?`

// CreateSession inserts s and, in the same transaction, revokes with reason
// "session_limit" at s.CreatedAt the user's least recently refreshed live
// sessions beyond maxPerUser (0 = unlimited). The new session always counts
// as the most recent, whatever the other sessions' timestamps.
func (db *DB) CreateSession(ctx context.Context, s store.Session, maxPerUser int) ([]string, error) {
	var e enc
	args := []any{s.ID, s.UserID, s.Generation, e.time(s.CreatedAt), e.time(s.LastRefreshedAt),
		e.time(s.RefreshExpiresAt), e.time(s.AbsoluteExpiresAt), e.time(s.RevokedAt),
		s.RevokeReason, s.ClientID, s.UserAgent, s.IP}
	now := e.time(s.CreatedAt)
	if e.err != nil {
		return nil, e.err
	}
	var evicted []string
	// Through the group commit (batch.go), inside a SAVEPOINT: a duplicate id
	// fails this sign-in alone.
	err := db.submit(ctx, true, func(t *wtx) error {
		evicted = evicted[:0]
		if _, err := t.exec(`INSERT INTO sessions (`+sessionCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
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
				evicted = append(evicted, st.ColumnText(0))
				return nil
			}); err != nil {
			return err
		}
		// The events of the evictions: their cause, and so their txn, is
		// this sign-in.
		for _, id := range evicted {
			if err := recordEvent(t, store.EventSessionRevoked, id, s.UserID, "session_limit", s.ID, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, db.wrap("create session", err)
	}
	return evicted, nil
}

// Session returns the session with id in whatever state, or
// store.ErrNotFound.
func (db *DB) Session(ctx context.Context, id string) (store.Session, error) {
	s, err := scanSession(db.r.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("sqlite: session: %w", store.ErrNotFound)
	}
	return s, db.wrap("session", err)
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
		return nil, db.wrap("list sessions", err)
	}
	defer rows.Close()
	var list []store.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, db.wrap("list sessions", err)
		}
		list = append(list, s)
	}
	return list, db.wrap("list sessions", rows.Err())
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
	if p.PasswordHash != "" && p.UserID == "" {
		return 0, errors.New("sqlite: revoke sessions: a password change needs UserID")
	}
	txn := txnOf(p.Txn)
	// Through the group commit (batch.go), so that a revocation is ordered
	// with the rotations around it and is never starved by them; its events
	// (and, for a password change, the new hash and its event) are part of
	// the same write. A password change of an unknown user is undone in its
	// SAVEPOINT.
	var n int64
	err := db.submit(ctx, p.PasswordHash != "", func(t *wtx) error {
		var err error
		if p.PasswordHash != "" {
			found, err := t.exec(`UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`, p.PasswordHash, now, p.UserID)
			if err != nil {
				return err
			}
			if found == 0 {
				return expected(store.ErrNotFound)
			}
		}
		if p.SessionID != "" {
			n, err = revokeRecorded(t, revokeByID, []any{now, p.Reason, p.SessionID}, p.Reason, txn, now)
		} else {
			n, err = revokeRecorded(t, revokeByUser, []any{now, p.Reason, p.UserID, p.ExceptSessionID}, p.Reason, txn, now)
		}
		if err == nil && p.PasswordHash != "" {
			err = recordEvent(t, store.EventCredentialChange, "", p.UserID, p.Reason, txn, now)
		}
		return err
	})
	return int(n), db.wrap("revoke sessions", err)
}

// Purge deletes, in one transaction, the sessions revoked or expired (refresh
// or absolute expiry) strictly before olderThan and the signing keys retired
// strictly before keyRetiredBefore. It returns the number of sessions deleted.
func (db *DB) Purge(ctx context.Context, olderThan, keyRetiredBefore time.Time) (int64, error) {
	var e enc
	cut, keyCut := e.time(olderThan), e.time(keyRetiredBefore)
	if e.err != nil {
		return 0, e.err
	}
	var n int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions
			WHERE revoked_at < ?1 OR refresh_expires_at < ?1 OR absolute_expires_at < ?1`, cut)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE retired_at < ?`, keyCut)
		return err
	})
	if err != nil {
		return 0, db.wrap("purge", err)
	}
	return n, nil
}

func scanSession(s scanner) (store.Session, error) {
	var (
		x                                     store.Session
		created, refreshed, expires, absolute int64
		revoked                               sql.NullInt64
	)
	err := s.Scan(&x.ID, &x.UserID, &x.Generation, &created, &refreshed, &expires, &absolute,
		&revoked, &x.RevokeReason, &x.ClientID, &x.UserAgent, &x.IP)
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
		RevokeReason: s.ColumnText(8), ClientID: s.ColumnText(9), UserAgent: s.ColumnText(10), IP: s.ColumnText(11)}
	if s.ColumnType(7) != sqlite3.NULL {
		x.RevokedAt = fromNanos(s.ColumnInt64(7))
	}
	return x
}
