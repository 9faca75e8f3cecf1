package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"

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
		AND jkt = ?
	RETURNING ` + sessionCols

// useProofSQL records a used DPoP proof; no row changes when its key is
// recorded already (a replay).
const useProofSQL = `INSERT INTO dpop_jti (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`

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
	var proofExp any
	if p.Proof != nil {
		proofExp = e.time(p.Proof.Expires)
	}
	if e.err != nil {
		return store.Session{}, e.err
	}
	// One compare-and-set inside the next group commit (batch.go): the
	// result is returned only once the batch holding it is durable.
	var s store.Session
	// The proof is recorded first, in the same transaction: a replay
	// changes nothing; a proof recorded stays so even if the
	// compare-and-set then fails (no SAVEPOINT): it was used.
	err := db.submit(ctx, false, func(t *wtx) error {
		if p.Proof != nil {
			n, err := t.exec(useProofSQL, p.Proof.Key, proofExp)
			if err != nil {
				return err
			}
			if n == 0 {
				return expected(errReplay)
			}
		}
		found := false
		err := t.rows(rotateSQL, []any{step, now, expires, p.SessionID, p.Generation, now, now, p.SkipUserCheck, p.JKT},
			func(st *sqlite3.Stmt) error {
				s, found = readSession(st), true
				return nil
			})
		if err == nil && !found {
			return expected(errStale)
		}
		return err
	})
	if errors.Is(err, store.ErrStale) || errors.Is(err, store.ErrReplay) {
		return store.Session{}, err
	}
	return s, db.wrap(ctx, "rotate", err)
}

// UseProof records a used DPoP proof; store.ErrReplay if it was recorded
// before.
func (db *DB) UseProof(ctx context.Context, u store.ProofUse) error {
	var e enc
	exp := e.time(u.Expires)
	if e.err != nil {
		return e.err
	}
	err := db.submit(ctx, false, func(t *wtx) error {
		n, err := t.exec(useProofSQL, u.Key, exp)
		if err == nil && n == 0 {
			return expected(errReplay)
		}
		return err
	})
	if errors.Is(err, store.ErrReplay) {
		return err
	}
	return db.wrap(ctx, "use proof", err)
}

var errReplay = fmt.Errorf("sqlite: %w", store.ErrReplay)

// errStale is allocated once: a stale refresh (a replayed token) is common
// enough not to pay for a new error each time.
var errStale = fmt.Errorf("sqlite: rotate: %w", store.ErrStale)
