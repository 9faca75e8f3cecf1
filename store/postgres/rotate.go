package postgres

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// rotateManySQL is the refresh of a whole batch of sessions (see batch.go):
// one UPDATE that, for every row v of the arrays it is given, compares
// (generation, not revoked, not expired at v's time, user active) and sets
// (generation, last refresh, sliding expiry) at once, returning the new row
// tagged with v.op, the op's index in its batch. rotateOneSQL is the same
// statement for a batch of one (a lone Rotate, the common case on a quiet
// server), its v a row of scalar parameters instead of arrays: PostgreSQL
// folds that row into the statement, which then plans and costs exactly as
// a plain single-row UPDATE (unnesting arrays, even of one element, costs
// the server a quarter more per call). Both are built from rotateHead and
// rotateTail, the one text that defines a refresh, so they cannot drift
// apart.
//
// Per row it is exactly the single-session compare-and-set:
//   - v.step is 1 when rotation is on and 0 when the session is only touched
//     (the generation stays, the expiry slides);
//   - v.exp_ns is now + RefreshTTL, saturated in Go (addSaturating), capped
//     here at the absolute expiry;
//   - v.skip_user leaves the user's status out (SkipUserCheck).
//
// The columns of v have names that no column of sessions has, so the
// unqualified sessionColumns in RETURNING are the session's.
//
// UPDATE … FROM updates a target row once even if several rows of v match
// it, taking the values of an arbitrary one; that is why a batch never holds
// two ops for one session (see takeLocked), and ops for one session go into
// successive batches, exactly as if they ran one after the other.
//
// Why the default READ COMMITTED isolation is enough, with no explicit lock
// and no read-then-write: an UPDATE locks each row it changes. When two
// statements (two batches of this process, or of two instances) present the
// same generation of a session at once, the second blocks on the row lock
// the first holds; once the first commits, PostgreSQL re-evaluates the WHERE
// clause of the second against the newest version of the row
// (EvalPlanQual), sees generation already advanced (or revoked_at set by a
// concurrent revoke), and leaves that row alone: no row comes back for that
// op, which is store.ErrStale. Exactly one caller wins, on any number of
// instances. A read followed by a write would need SELECT … FOR UPDATE or
// SERIALIZABLE (and retries) to be as safe, and would cost another round
// trip.
//
// The user check is part of the same statement. A deactivation that commits
// before the statement starts is seen and fails the refresh; one that commits
// while it runs is ordered after it, and the service revokes the user's
// sessions as part of deactivating, which this row lock orders as well.
//
// The parameters of rotateManySQL are arrays of one element per op, bound
// from Go slices (int4[], text[], int8[], bool[]), so its text never changes
// and pgx prepares it once per connection (the pool's statement cache), like
// rotateOneSQL.
const (
	rotateHead = `
	UPDATE sessions AS s
	SET generation         = s.generation + v.step,
	    last_refreshed_at  = v.now_ns,
	    refresh_expires_at = LEAST(v.exp_ns, s.absolute_expires_at)
	FROM `
	rotateCond = `
	WHERE s.id = v.sid
	  AND s.generation = v.gen
	  AND s.revoked_at IS NULL
	  AND s.refresh_expires_at > v.now_ns
	  AND s.absolute_expires_at > v.now_ns
	  AND (v.skip_user OR EXISTS (SELECT 1 FROM users AS u WHERE u.id = s.user_id AND u.status = 'active'))
	  AND s.jkt = v.want_jkt`
	rotateColumns = ` AS v(op, sid, gen, step, now_ns, exp_ns, skip_user, want_jkt`
	rotateTail    = rotateColumns + `)` + rotateCond + `
	RETURNING v.op, false, ` + sessionColumns

	rotateManyArgs = `unnest($1::int4[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::bool[], $8::text[]`
	rotateOneArgs  = `(SELECT $1::int4, $2::text, $3::int8, $4::int8, $5::int8, $6::int8, $7::bool, $8::text`

	rotateManySQL = rotateHead + rotateManyArgs + `)` + rotateTail
	rotateOneSQL  = rotateHead + rotateOneArgs + `)` + rotateTail

	// rotateProofSQL is the statement of a batch in which some refresh came
	// with a DPoP proof (v.proof_key; NULL for the others): each proof is
	// recorded in dpop_jti first (used), and a session rotates only if its
	// proof, if any, was recorded by this statement; so a proof already
	// recorded (by any instance) changes nothing, and the statement returns
	// a row with replay true for it. A proof recorded stays recorded when
	// its compare-and-set fails: it was used. INSERT … ON CONFLICT waits for
	// a concurrent statement inserting the same key and skips the row if
	// that one commits, so of two statements presenting one proof exactly
	// one rotates. A batch never holds one key twice (execBatch).
	rotateProofHead = `
	WITH v AS (SELECT * FROM `
	rotateProofTail = rotateColumns + `, proof_key, proof_exp)),
	used AS (
		INSERT INTO dpop_jti (key, expires_at)
		SELECT v.proof_key, v.proof_exp FROM v WHERE v.proof_key IS NOT NULL
		ON CONFLICT (key) DO NOTHING
		RETURNING key),
	rotated AS (
		UPDATE sessions AS s
		SET generation         = s.generation + v.step,
		    last_refreshed_at  = v.now_ns,
		    refresh_expires_at = LEAST(v.exp_ns, s.absolute_expires_at)
		FROM v` + rotateCond + `
		  AND (v.proof_key IS NULL OR v.proof_key IN (SELECT key FROM used))
		RETURNING v.op, false, ` + sessionColumns + `)
	SELECT * FROM rotated
	UNION ALL
	SELECT v.op, true, '', '', 0::int8, 0::int8, 0::int8, 0::int8, 0::int8, NULL::int8, '', '', '', '', ''
	FROM v WHERE v.proof_key IS NOT NULL AND v.proof_key NOT IN (SELECT key FROM used)`

	rotateProofManySQL = rotateProofHead + rotateManyArgs + `, $9::bytea[], $10::int8[])` + rotateProofTail
	rotateProofOneSQL  = rotateProofHead + rotateOneArgs + `, $9::bytea, $10::int8)` + rotateProofTail
)

// errReplay is a refresh whose DPoP proof was recorded before.
var errReplay = fmt.Errorf("postgres: rotate: %w", store.ErrReplay)

// UseProof records a used DPoP proof; store.ErrReplay if its key was
// recorded before (by any instance).
func (db *DB) UseProof(ctx context.Context, u store.ProofUse) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `INSERT INTO dpop_jti (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`,
		u.Key, nanos(u.Expires))
	if err != nil {
		return wrap("use proof", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: use proof: %w", store.ErrReplay)
	}
	return nil
}

// errStale is allocated once: a stale refresh (a replayed token) is common
// enough not to pay for a new error each time.
var errStale = fmt.Errorf("postgres: rotate: %w", store.ErrStale)

// Rotate is the refresh, one atomic compare-and-set (see rotateManySQL). If the
// session is at p.Generation, not revoked, not expired at p.Now and its user
// exists and is active, it slides the refresh expiry to
// min(p.Now+p.RefreshTTL, AbsoluteExpiresAt), sets LastRefreshedAt = p.Now,
// advances the generation when p.Advance, and returns the session. Otherwise
// it changes nothing and returns store.ErrStale (also for an unknown
// session): the caller reads the session to learn why.
//
// Concurrent calls are committed together (see batch.go): Rotate returns
// once the statement carrying its refresh has committed, or failed. A ctx
// that ends while the call waits for its turn ends the call with ctx's error
// and changes nothing, and so does waiting longer than QueryTimeout (as
// store.ErrUnavailable); once the statement is under way, Rotate waits for
// its outcome, which the server decides within its statement_timeout, a
// margin below QueryTimeout, so that what it returns is what happened. When
// no verdict can come (the connection is lost after the statement was sent)
// it returns store.ErrInDoubt (statement.go).
func (db *DB) Rotate(ctx context.Context, p store.RotateParams) (store.Session, error) {
	return db.rot.rotate(db, ctx, p)
}

// rotateArgs returns the values Rotate's statement compares and sets for p:
// the generation step, the time of the refresh and the new sliding expiry
// (before the cap at the absolute expiry, which the statement applies).
func rotateArgs(p store.RotateParams) (step, now, exp int64) {
	if p.Advance {
		step = 1
	}
	now = nanos(p.Now)
	return step, now, addSaturating(now, int64(p.RefreshTTL))
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

// PurgeProofs deletes the used DPoP proofs that expired before before.
func (db *DB) PurgeProofs(ctx context.Context, before time.Time) (int64, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `DELETE FROM dpop_jti WHERE expires_at < $1`, nanos(before))
	if err != nil {
		return 0, wrap("purge proofs", err)
	}
	return tag.RowsAffected(), nil
}
