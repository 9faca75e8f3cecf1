package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/latchkey-dev/latchkey/store"
)

// rotateSQL is the refresh: a single compare-and-set. The WHERE clause is the
// whole policy the store owns (right generation, not revoked, not expired at
// now, user active), so two refreshes presenting the same generation cannot
// both match: SQLite runs one write at a time, and the second sees the
// generation the first wrote. Nothing is read before the write, and nothing
// is inserted per refresh.
//
// Expiry is exact: at now == refresh_expires_at the session has expired.
// The new refresh expiry is capped at the absolute one.
const rotateSQL = `UPDATE sessions SET
		generation = generation + ?,
		last_refreshed_at = ?,
		refresh_expires_at = min(?, absolute_expires_at)
	WHERE id = ? AND generation = ?
		AND revoked_at IS NULL
		AND refresh_expires_at > ? AND absolute_expires_at > ?
		AND (? OR EXISTS (SELECT 1 FROM users u WHERE u.id = sessions.user_id AND u.status = 'active'))
	RETURNING ` + sessionCols

// Rotate advances (or, with p.Advance false, only touches) the session if it
// is at p.Generation and live at p.Now with an active user; otherwise it
// changes nothing and returns store.ErrStale.
func (db *DB) Rotate(ctx context.Context, p store.RotateParams) (store.Session, error) {
	var e enc
	step := 0
	if p.Advance {
		step = 1
	}
	now, expires := e.time(p.Now), e.time(p.Now.Add(p.RefreshTTL))
	if e.err != nil {
		return store.Session{}, e.err
	}
	stmt, err := db.rotateStmt(ctx)
	if err != nil {
		return store.Session{}, db.wrap("rotate", err)
	}
	// One compare-and-set inside the next group commit (batch.go): the
	// result is returned only once the batch holding it is durable.
	var s store.Session
	err = db.submit(ctx, false, func(tx *sql.Tx) error {
		var err error
		s, err = scanSession(tx.Stmt(stmt).QueryRow(step, now, expires, p.SessionID, p.Generation, now, now, p.SkipUserCheck))
		if errors.Is(err, sql.ErrNoRows) {
			return expected(errStale)
		}
		return err
	})
	if errors.Is(err, store.ErrStale) {
		return store.Session{}, err
	}
	return s, db.wrap("rotate", err)
}

// errStale is allocated once: a stale refresh (a replayed token) is common
// enough not to pay for a new error each time.
var errStale = fmt.Errorf("sqlite: rotate: %w", store.ErrStale)

// rotateStmt returns the prepared rotateSQL on the writer connection. SQLite
// re-prepares it by itself if a migration changes the schema.
func (db *DB) rotateStmt(ctx context.Context) (*sql.Stmt, error) {
	if st := db.rotate.Load(); st != nil {
		return st, nil
	}
	st, err := db.w.PrepareContext(ctx, rotateSQL)
	if err != nil {
		return nil, err
	}
	if !db.rotate.CompareAndSwap(nil, st) {
		st.Close()
	}
	return db.rotate.Load(), nil
}
