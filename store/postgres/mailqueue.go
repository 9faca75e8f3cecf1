package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/latchkey-dev/latchkey/store"
)

var _ store.MailQueue = (*DB)(nil)

const mailColumns = `id, kind, payload, created_at, not_after, attempts, next_attempt_at, last_error, lease_owner, lease_until`

// insertMail queues m on q (the pool, or a transaction), due at its creation.
func insertMail(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, m store.Mail) error {
	_, err := q.Exec(ctx, `INSERT INTO mail_queue (id, kind, payload, created_at, not_after, next_attempt_at)
		VALUES ($1, $2, $3, $4, $5, $4)`, m.ID, m.Kind, m.Payload, nanos(m.CreatedAt), nanos(m.NotAfter))
	return err
}

// EnqueueMail queues m; store.ErrConflict if its id exists.
func (db *DB) EnqueueMail(ctx context.Context, m store.Mail) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return wrap("enqueue mail", insertMail(ctx, db.pool, m))
}

// LeaseMail leases due, unleased messages to owner. The candidates are
// locked with SKIP LOCKED, so concurrent leases (other instances) take
// other messages instead of waiting; a row that another lease committed
// meanwhile is re-checked under its lock and left out, its lease being in
// force.
func (db *DB) LeaseMail(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.Mail, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	if owner == "" || lease <= 0 || limit <= 0 {
		return nil, errors.New("postgres: lease mail: an owner, a positive lease and a positive limit are required")
	}
	rows, err := db.pool.Query(ctx, `
		UPDATE mail_queue SET lease_owner = $1, lease_until = $2
		WHERE id IN (
			SELECT id FROM mail_queue
			WHERE next_attempt_at <= $3 AND lease_until <= $3
			ORDER BY created_at, id
			LIMIT $4
			FOR UPDATE SKIP LOCKED)
		RETURNING `+mailColumns, owner, nanos(now.Add(lease)), nanos(now), limit)
	if err != nil {
		return nil, wrap("lease mail", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Mail, error) {
		var (
			m                                  store.Mail
			created, notAfter, next, leaseTill int64
		)
		err := r.Scan(&m.ID, &m.Kind, &m.Payload, &created, &notAfter, &m.Attempts, &next, &m.LastError, &m.LeaseOwner, &leaseTill)
		m.CreatedAt, m.NotAfter, m.NextAttemptAt, m.LeaseUntil = fromNanos(created), fromNanos(notAfter), fromNanos(next), fromNanos(leaseTill)
		return m, err
	})
	return out, wrap("lease mail", err)
}

// FinishMail deletes a message whose lease owner still holds.
func (db *DB) FinishMail(ctx context.Context, id, owner string, now time.Time) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `DELETE FROM mail_queue WHERE id = $1 AND lease_owner = $2 AND lease_until > $3`,
		id, owner, nanos(now))
	return leaseResult("finish mail", tag, err)
}

// RetryMail records a failed attempt of a message owner still holds.
func (db *DB) RetryMail(ctx context.Context, id, owner string, now, at time.Time, lastError string) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `
		UPDATE mail_queue
		SET attempts = attempts + 1, next_attempt_at = $4, last_error = $5, lease_owner = '', lease_until = 0
		WHERE id = $1 AND lease_owner = $2 AND lease_until > $3`,
		id, owner, nanos(now), nanos(at), lastError)
	return leaseResult("retry mail", tag, err)
}

func leaseResult(op string, tag pgconn.CommandTag, err error) error {
	if err == nil && tag.RowsAffected() == 0 {
		err = errNoMatch
	}
	return wrapCAS(op, err)
}

// MailStats counts the queue and finds its oldest message.
func (db *DB) MailStats(ctx context.Context) (store.MailStats, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	var (
		s      store.MailStats
		oldest *int64
	)
	if err := db.pool.QueryRow(ctx, `SELECT count(*), min(created_at) FROM mail_queue`).Scan(&s.Queued, &oldest); err != nil {
		return store.MailStats{}, wrap("mail stats", err)
	}
	s.Oldest = fromNullNanos(oldest)
	return s, nil
}
