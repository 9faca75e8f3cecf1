package postgres

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/latchkey-dev/latchkey/store"
)

const sessionColumns = `id, user_id, generation, created_at, last_refreshed_at,
	refresh_expires_at, absolute_expires_at, revoked_at, revoke_reason,
	client_id, user_agent, ip, jkt`

// sessionLimitLock is the first key of the transaction-scoped advisory lock
// that serialises CreateSession per user (the second key is a hash of the user
// id). Two-key advisory locks live in a different space from the one-key
// migration lock, so the two never collide.
const sessionLimitLock = 0x4c4b5331 // "LKS1"

// CreateSession inserts s and, in the same transaction, revokes (reason
// "session_limit") the user's least recently refreshed live sessions beyond
// maxPerUser, never s itself. "Live" is judged at s.CreatedAt.
//
// Guarantee: when maxPerUser > 0 the transaction first takes an advisory lock
// on the user, so CreateSession calls for one user run one after another, on
// every instance sharing the database. After each commit the user has at most
// maxPerUser live sessions: the limit is exact, not approximate. (Other users
// whose ids hash alike merely queue behind each other.) Rotate does not take
// the lock and needs not: it neither adds a live session nor revives one.
//
// It returns the ids it revoked, least recently refreshed first, and
// store.ErrConflict if s.ID exists.
func (db *DB) CreateSession(ctx context.Context, s store.Session, maxPerUser int) ([]string, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	var evicted []string
	err := retryDeadlock(ctx, func() error {
		evicted = evicted[:0]
		return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error { return db.createSession(ctx, tx, s, maxPerUser, &evicted) })
	})
	if err != nil {
		return nil, wrap("create session", err)
	}
	return evicted, nil
}

// createSession is CreateSession's transaction.
func (db *DB) createSession(ctx context.Context, tx pgx.Tx, s store.Session, maxPerUser int, evicted *[]string) error {
	if maxPerUser > 0 {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`,
			sessionLimitLock, s.UserID); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		s.ID, s.UserID, s.Generation, nanos(s.CreatedAt), nanos(s.LastRefreshedAt),
		nanos(s.RefreshExpiresAt), nanos(s.AbsoluteExpiresAt), nullNanos(s.RevokedAt),
		s.RevokeReason, s.ClientID, s.UserAgent, s.IP, s.JKT); err != nil {
		return err
	}
	if maxPerUser <= 0 {
		return nil
	}
	// The new session is kept; of the others, the maxPerUser-1 most
	// recently refreshed stay and the rest are revoked. Statement order
	// inside the transaction matters: each statement of a READ COMMITTED
	// transaction takes a fresh snapshot, so this one, running after the
	// lock was granted, sees every session the previous holder committed.
	rows, err := tx.Query(ctx, `
		WITH victims AS (
			SELECT id FROM sessions
			WHERE user_id = $1 AND id <> $2
			  AND revoked_at IS NULL
			  AND refresh_expires_at > $3 AND absolute_expires_at > $3
			ORDER BY last_refreshed_at DESC, created_at DESC, id DESC
			OFFSET $4
		),
		-- Lock the victims in id byte order, the order a batched
		-- Rotate locks rows in (statement.go), so the two cannot
		-- deadlock.
		locked AS (
			SELECT id FROM sessions WHERE id IN (SELECT id FROM victims) ORDER BY id COLLATE "C" FOR UPDATE
		),
		revoked AS (
			UPDATE sessions AS s
			SET revoked_at = $3, revoke_reason = 'session_limit'
			FROM locked
			WHERE s.id = locked.id AND s.revoked_at IS NULL
			RETURNING s.id, s.user_id, s.last_refreshed_at, s.created_at
		),
		-- The evictions' events; their cause, and so their txn, is
		-- this sign-in.
		events AS (`+recordRevoked("'session_limit'", "$2", "$3")+`)
		SELECT id, last_refreshed_at, created_at FROM revoked`,
		s.UserID, s.ID, nanos(s.CreatedAt), maxPerUser-1)
	if err != nil {
		return err
	}
	type victim struct {
		id                 string
		refreshed, created int64
	}
	victims, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (victim, error) {
		var v victim
		err := r.Scan(&v.id, &v.refreshed, &v.created)
		return v, err
	})
	if err != nil {
		return err
	}
	// RETURNING has no order; report the least recently refreshed first.
	slices.SortFunc(victims, func(a, b victim) int {
		return cmp.Or(cmp.Compare(a.refreshed, b.refreshed), cmp.Compare(a.created, b.created), cmp.Compare(a.id, b.id))
	})
	for _, v := range victims {
		*evicted = append(*evicted, v.id)
	}
	return nil
}

// deadlockRetries bounds how often a write that PostgreSQL aborted to break
// a deadlock is run again (a batch of rotations, a revocation, a sign-in
// evicting sessions, a deactivation).
const deadlockRetries = 3

// retryDeadlock runs f, and runs it again when PostgreSQL aborted it to
// break a deadlock: the aborted transaction was rolled back whole, so
// running it again is the same as having run it a little later. Locking in
// one order (byte order of the ids) rules out the deadlocks between our own
// writes; this covers the rest (another writer, a plan that meets rows in
// another order).
func retryDeadlock(ctx context.Context, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !isDeadlock(err) || attempt == deadlockRetries || ctx.Err() != nil {
			return err
		}
	}
}

// Session returns the session with id whatever its state; store.ErrNotFound
// if there is none.
func (db *DB) Session(ctx context.Context, id string) (store.Session, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	s, err := scanSession(db.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
	return s, wrap("session", err)
}

// ListSessions returns the live sessions of userID at now (all users' when
// userID is ""), most recently refreshed first.
func (db *DB) ListSessions(ctx context.Context, userID string, now time.Time) ([]store.Session, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `
		SELECT `+sessionColumns+` FROM sessions
		WHERE ($1 = '' OR user_id = $1)
		  AND revoked_at IS NULL
		  AND refresh_expires_at > $2 AND absolute_expires_at > $2
		ORDER BY last_refreshed_at DESC, created_at DESC, id DESC`,
		userID, nanos(now))
	if err != nil {
		return nil, wrap("list sessions", err)
	}
	sessions, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Session, error) { return scanSession(r) })
	return sessions, wrap("list sessions", err)
}

// errRevokeParams reports a RevokeParams that selects nothing or too much.
var errRevokeParams = errors.New("postgres: revoke sessions: exactly one of SessionID and UserID must be set")

// RevokeSessions sets RevokedAt and RevokeReason on the selected sessions
// that are not revoked yet (expired ones included) and returns how many it
// revoked. An unknown session id revokes nothing and is not an error.
func (db *DB) RevokeSessions(ctx context.Context, p store.RevokeParams) (int, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	if (p.SessionID == "") == (p.UserID == "") {
		return 0, errRevokeParams
	}
	if p.PasswordHash != "" {
		return db.changePassword(ctx, p)
	}
	var n int64
	err := retryDeadlock(ctx, func() (err error) {
		n, err = revoke(ctx, db.pool, p)
		return err
	})
	if err != nil {
		return 0, wrap("revoke sessions", err)
	}
	return int(n), nil
}

// revoke runs the revocation p selects on q (the pool, or a transaction).
// The rows are locked in id order first (FOR UPDATE in the subquery), the
// order a batched Rotate locks them in (statement.go), so revoking a user's
// sessions while some of them refresh queues behind the batch instead of
// deadlocking with it. The order is byte order (COLLATE "C"), as Go's
// strings.Compare that sorts a batch, whatever collation the database
// defaults to: under en_US, say, "a1" sorts before "B2" while its bytes sort
// after.
func revoke(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, p store.RevokeParams) (int64, error) {
	// One statement: the revocation, and the session-revoked events of the
	// sessions it revoked (outbox.go). The INSERT counts them.
	tag, err := q.Exec(ctx, `
		WITH revoked AS (
			UPDATE sessions SET revoked_at = $4, revoke_reason = $5
			WHERE id IN (
				SELECT id FROM sessions
				WHERE revoked_at IS NULL
				  AND (($1 <> '' AND id = $1) OR ($2 <> '' AND user_id = $2 AND id <> $3))
				ORDER BY id COLLATE "C"
				FOR UPDATE)
			  AND revoked_at IS NULL
			RETURNING id, user_id)
		`+recordRevoked("$5", "$6", "$4"),
		p.SessionID, p.UserID, p.ExceptSessionID, nanos(p.Now), p.Reason, txnOf(p.Txn))
	return tag.RowsAffected(), err
}

// Purge deletes the sessions revoked, or expired (refresh or absolute expiry),
// before olderThan, the single-use tokens expired before olderThan, and the
// signing keys retired before keyRetiredBefore, in one transaction. It
// returns the number of sessions deleted.
func (db *DB) Purge(ctx context.Context, olderThan, keyRetiredBefore time.Time) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// Not bounded by the pool's statement_timeout (settings.go): a large
		// backlog may take longer than a refresh may. A refresh never waits
		// for these rows (its compare-and-set matches live sessions only),
		// and PostgreSQL writes concurrently, so one transaction holds up no
		// refresh; that is why it is not cut into chunks as on SQLite, where
		// a long write holds the only write lock.
		if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			DELETE FROM sessions
			WHERE revoked_at < $1 OR refresh_expires_at < $1 OR absolute_expires_at < $1`,
			nanos(olderThan))
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		if _, err := tx.Exec(ctx, `DELETE FROM user_tokens WHERE expires_at < $1`, nanos(olderThan)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM dpop_jti WHERE expires_at < $1`, nanos(olderThan)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM signing_keys WHERE retired_at < $1`, nanos(keyRetiredBefore))
		return err
	})
	if err != nil {
		return 0, wrap("purge", err)
	}
	return n, nil
}

// sessionRow is one row of sessionColumns as scanned: the times are Unix
// nanoseconds until session converts them.
type sessionRow struct {
	s                                              store.Session
	created, refreshed, refreshExpires, absExpires int64
	revoked                                        *int64
}

// dest appends to d the scan targets of r, in the order of sessionColumns.
// A caller scanning many rows builds it once and scans into it again and
// again.
func (r *sessionRow) dest(d []any) []any {
	return append(d, &r.s.ID, &r.s.UserID, &r.s.Generation, &r.created, &r.refreshed,
		&r.refreshExpires, &r.absExpires, &r.revoked, &r.s.RevokeReason,
		&r.s.ClientID, &r.s.UserAgent, &r.s.IP, &r.s.JKT)
}

// session returns the session r holds.
func (r *sessionRow) session() store.Session {
	s := r.s
	s.CreatedAt = fromNanos(r.created)
	s.LastRefreshedAt = fromNanos(r.refreshed)
	s.RefreshExpiresAt = fromNanos(r.refreshExpires)
	s.AbsoluteExpiresAt = fromNanos(r.absExpires)
	s.RevokedAt = fromNullNanos(r.revoked)
	return s
}

func scanSession(row pgx.Row) (store.Session, error) {
	var r sessionRow
	if err := row.Scan(r.dest(make([]any, 0, 12))...); err != nil {
		return store.Session{}, err
	}
	return r.session(), nil
}

// changePassword is RevokeSessions with a PasswordHash: SetPassword, the
// store's one password change (credentials.go).
func (db *DB) changePassword(ctx context.Context, p store.RevokeParams) (int, error) {
	if p.UserID == "" {
		return 0, errors.New("postgres: revoke sessions: a password change needs UserID")
	}
	res, err := db.SetPassword(ctx, store.PasswordChange{UserID: p.UserID, NewHash: p.PasswordHash,
		ExceptSessionID: p.ExceptSessionID, Reason: p.Reason, Now: p.Now, Txn: p.Txn})
	return res.Revoked, err
}
