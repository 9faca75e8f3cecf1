package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/latchkey-dev/latchkey/store"
)

var _ store.MailQueue = (*DB)(nil)

const (
	mailCols   = `id, kind, payload, created_at, not_after, attempts, next_attempt_at, last_error, lease_owner, lease_until`
	insertMail = `INSERT INTO mail_queue (id, kind, payload, created_at, not_after, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)`
)

// mailInsertArgs returns insertMail's arguments for m, due at its creation.
func mailInsertArgs(e *enc, m store.Mail) []any {
	created := e.time(m.CreatedAt)
	return []any{m.ID, m.Kind, m.Payload, created, e.time(m.NotAfter), created}
}

// EnqueueMail queues m; store.ErrConflict if its id exists.
func (db *DB) EnqueueMail(ctx context.Context, m store.Mail) error {
	var e enc
	args := mailInsertArgs(&e, m)
	if e.err != nil {
		return e.err
	}
	err := db.submit(ctx, false, func(t *wtx) error {
		_, err := t.exec(insertMail, args...)
		if constraintOnly(err) {
			return expected(err)
		}
		return err
	})
	return db.wrap(ctx, "enqueue mail", err)
}

// LeaseMail leases due, unleased messages to owner in one write: the single
// writer runs leases one after the other, so no two owners get one message.
func (db *DB) LeaseMail(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.Mail, error) {
	var e enc
	at, until := e.time(now), e.time(now.Add(lease))
	if e.err != nil {
		return nil, e.err
	}
	if owner == "" || lease <= 0 || limit <= 0 {
		return nil, errors.New("sqlite: lease mail: an owner, a positive lease and a positive limit are required")
	}
	var out []store.Mail
	err := db.submit(ctx, false, func(t *wtx) error {
		out = out[:0]
		return t.rows(`UPDATE mail_queue SET lease_owner = ?1, lease_until = ?2
			WHERE id IN (SELECT id FROM mail_queue WHERE next_attempt_at <= ?3 AND lease_until <= ?3
				ORDER BY created_at, id LIMIT ?4)
			RETURNING `+mailCols, []any{owner, until, at, limit}, func(st *sqlite3.Stmt) error {
			out = append(out, readMail(st))
			return nil
		})
	})
	if err != nil {
		return nil, db.wrap(ctx, "lease mail", err)
	}
	return out, nil
}

// FinishMail deletes a message whose lease owner still holds.
func (db *DB) FinishMail(ctx context.Context, id, owner string, now time.Time) error {
	return db.mailWrite(ctx, "finish mail", now, `DELETE FROM mail_queue WHERE id = ?1 AND lease_owner = ?2 AND lease_until > ?3`, id, owner)
}

// RetryMail records a failed attempt of a message owner still holds.
func (db *DB) RetryMail(ctx context.Context, id, owner string, now, at time.Time, lastError string) error {
	var e enc
	next := e.time(at)
	if e.err != nil {
		return e.err
	}
	return db.mailWrite(ctx, "retry mail", now, `UPDATE mail_queue
		SET attempts = attempts + 1, next_attempt_at = ?4, last_error = ?5, lease_owner = '', lease_until = 0
		WHERE id = ?1 AND lease_owner = ?2 AND lease_until > ?3`, id, owner, next, lastError)
}

// mailWrite runs a write on one leased message (args after now) and maps
// "no row" to store.ErrStale.
func (db *DB) mailWrite(ctx context.Context, op string, now time.Time, query, id, owner string, more ...any) error {
	var e enc
	at := e.time(now)
	if e.err != nil {
		return e.err
	}
	args := append([]any{id, owner, at}, more...)
	err := db.submit(ctx, false, func(t *wtx) error {
		n, err := t.exec(query, args...)
		if err == nil && n == 0 {
			return expected(store.ErrStale)
		}
		return err
	})
	return db.wrap(ctx, op, err)
}

// MailStats counts the queue and finds its oldest message.
func (db *DB) MailStats(ctx context.Context) (store.MailStats, error) {
	var (
		s      store.MailStats
		oldest sql.NullInt64
	)
	err := db.r.QueryRowContext(ctx, `SELECT count(*), min(created_at) FROM mail_queue`).Scan(&s.Queued, &oldest)
	if err != nil {
		return store.MailStats{}, db.wrap(ctx, "mail stats", err)
	}
	s.Oldest = fromNull(oldest)
	return s, nil
}

// readMail reads a row in mailCols order.
func readMail(st *sqlite3.Stmt) store.Mail {
	return store.Mail{ID: st.ColumnText(0), Kind: st.ColumnText(1), Payload: st.ColumnBlob(2, nil),
		CreatedAt: fromNanos(st.ColumnInt64(3)), NotAfter: fromNanos(st.ColumnInt64(4)), Attempts: st.ColumnInt(5),
		NextAttemptAt: fromNanos(st.ColumnInt64(6)), LastError: st.ColumnText(7), LeaseOwner: st.ColumnText(8),
		LeaseUntil: fromLease(st.ColumnInt64(9))}
}
