package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey-dev/latchkey/store"
)

// rotateSQL is the refresh: one UPDATE that compares (generation, not
// revoked, not expired, user active) and sets (generation, last refresh,
// sliding expiry) at once, returning the new row.
//
// Why the default READ COMMITTED isolation is enough, with no explicit lock
// and no read-then-write: an UPDATE locks each row it changes. When two
// callers present the same generation at once, the second blocks on the row
// lock the first holds; once the first commits, PostgreSQL re-evaluates the
// WHERE clause of the second against the newest version of the row
// (EvalPlanQual), sees generation already advanced (or revoked_at set by a
// concurrent revoke), and updates nothing. Exactly one caller wins, on any
// number of instances, and the loser gets zero rows: store.ErrStale. A read
// followed by a write would need SELECT ... FOR UPDATE or SERIALIZABLE (and
// retries) to be as safe, and would cost another round trip.
//
// The user check is part of the same statement. A deactivation that commits
// before the statement starts is seen and fails the refresh; one that commits
// while it runs is ordered after it, and the service revokes the user's
// sessions as part of deactivating, which this row lock orders as well.
const rotateSQL = `
	UPDATE sessions AS s
	SET generation         = s.generation + $3,
	    last_refreshed_at  = $4,
	    refresh_expires_at = LEAST($5, s.absolute_expires_at)
	WHERE s.id = $1
	  AND s.generation = $2
	  AND s.revoked_at IS NULL
	  AND s.refresh_expires_at > $4
	  AND s.absolute_expires_at > $4
	  AND ($6 OR EXISTS (SELECT 1 FROM users AS u WHERE u.id = s.user_id AND u.status = 'active'))
	RETURNING ` + sessionColumns

// errStale is allocated once: a stale refresh (a replayed token) is common
// enough not to pay for a new error each time.
var errStale = fmt.Errorf("postgres: rotate: %w", store.ErrStale)

// Rotate is the refresh, one atomic compare-and-set (see rotateSQL). If the
// session is at p.Generation, not revoked, not expired at p.Now and its user
// exists and is active, it slides the refresh expiry to
// min(p.Now+p.RefreshTTL, AbsoluteExpiresAt), sets LastRefreshedAt = p.Now,
// advances the generation when p.Advance, and returns the session. Otherwise
// it changes nothing and returns store.ErrStale (also for an unknown
// session): the caller reads the session to learn why.
func (db *DB) Rotate(ctx context.Context, p store.RotateParams) (store.Session, error) {
	var advance int64
	if p.Advance {
		advance = 1
	}
	now := nanos(p.Now)
	s, err := scanSession(db.pool.QueryRow(ctx, rotateSQL,
		p.SessionID, p.Generation, advance, now, addSaturating(now, int64(p.RefreshTTL)), p.SkipUserCheck))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return store.Session{}, errStale
		}
		return store.Session{}, wrap("rotate", err)
	}
	return s, nil
}

// addSaturating returns a+b clamped to the int64 range, so a huge TTL cannot
// wrap around into the past.
func addSaturating(a, b int64) int64 {
	switch {
	case b > 0 && a > math.MaxInt64-b:
		return math.MaxInt64
	case b < 0 && a < math.MinInt64-b:
		return math.MinInt64
	}
	return a + b
}
