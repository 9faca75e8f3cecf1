package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

const userCols = `id, email, password_hash, status, created_at, updated_at, email_unverified, email_verified_at`

// CreateUser inserts u; a taken email (or id) is store.ErrConflict.
func (db *DB) CreateUser(ctx context.Context, u store.User) error {
	var e enc
	args := []any{u.ID, u.Email, u.PasswordHash, string(u.Status), e.time(u.CreatedAt), e.time(u.UpdatedAt),
		u.EmailUnverified, e.time(u.EmailVerifiedAt)}
	if e.err != nil {
		return e.err
	}
	// Through the group commit (batch.go): a flood of sign-ups shares fsyncs.
	err := db.submit(ctx, false, func(t *wtx) error {
		_, err := t.exec(`INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, args...)
		if constraintOnly(err) {
			return expected(err) // this sign-up alone fails; the statement changed nothing
		}
		return err
	})
	return db.wrap(ctx, "create user", err)
}

// UserByID returns the user with id, or store.ErrNotFound.
func (db *DB) UserByID(ctx context.Context, id string) (store.User, error) {
	return db.user(ctx, "user by id", `SELECT `+userCols+` FROM users WHERE id = ?`, id)
}

// UserByEmail returns the user with the (normalised) email, or
// store.ErrNotFound.
func (db *DB) UserByEmail(ctx context.Context, email string) (store.User, error) {
	return db.user(ctx, "user by email", `SELECT `+userCols+` FROM users WHERE email = ?`, email)
}

func (db *DB) user(ctx context.Context, op, query, arg string) (store.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, query, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	return u, db.wrap(ctx, op, err)
}

// ListUsers returns every user, oldest first (ties in insertion order).
func (db *DB) ListUsers(ctx context.Context) ([]store.User, error) {
	return queryAll(ctx, db, "list users", scanUser, `SELECT `+userCols+` FROM users ORDER BY created_at, rowid`)
}

// UpdateUser writes u's Status, PasswordHash and UpdatedAt, and nothing else.
func (db *DB) UpdateUser(ctx context.Context, u store.User) error {
	var e enc
	args := []any{string(u.Status), u.PasswordHash, e.time(u.UpdatedAt), u.ID}
	if e.err != nil {
		return e.err
	}
	res, err := db.w.ExecContext(ctx,
		`UPDATE users SET status = ?, password_hash = ?, updated_at = ? WHERE id = ?`, args...)
	if err != nil {
		return db.wrap(ctx, "update user", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return db.wrap(ctx, "update user", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: update user: %w", store.ErrNotFound)
	}
	return nil
}

// ActivateUser makes the user active, writing its status and UpdatedAt only.
func (db *DB) ActivateUser(ctx context.Context, id string, now time.Time) error {
	var e enc
	at := e.time(now)
	if e.err != nil {
		return e.err
	}
	err := db.submit(ctx, true, func(t *wtx) error {
		found, err := t.exec(`UPDATE users SET status = ?, updated_at = ? WHERE id = ?`, string(store.UserActive), at, id)
		if err == nil && found == 0 {
			return expected(store.ErrNotFound)
		}
		return err
	})
	return db.wrap(ctx, "activate user", err)
}

// DeactivateUser makes the user inactive and revokes its live sessions in
// one write of the group commit (batch.go), inside a SAVEPOINT: both
// statements, and the revocations' events, commit together or not at all.
func (db *DB) DeactivateUser(ctx context.Context, id, reason string, now time.Time) (int, error) {
	var e enc
	at := e.time(now)
	if e.err != nil {
		return 0, e.err
	}
	var n int64
	txn := txnOf("") // one cause: this deactivation
	err := db.submit(ctx, true, func(t *wtx) error {
		found, err := t.exec(`UPDATE users SET status = ?, updated_at = ? WHERE id = ?`, string(store.UserInactive), at, id)
		if err != nil {
			return err
		}
		if found == 0 {
			return expected(store.ErrNotFound)
		}
		n, err = revokeRecorded(t, revokeByUser, []any{at, reason, id, ""}, reason, txn, at)
		return err
	})
	if err != nil {
		return 0, db.wrap(ctx, "deactivate user", err)
	}
	return int(n), nil
}

type scanner interface{ Scan(dest ...any) error }

// queryAll runs q on the reader pool and scans every row with scan; op
// names the operation in errors.
func queryAll[T any](ctx context.Context, db *DB, op string, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, db.wrap(ctx, op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, db.wrap(ctx, op, err)
		}
		out = append(out, v)
	}
	return out, db.wrap(ctx, op, rows.Err())
}

func scanUser(s scanner) (store.User, error) {
	var (
		u                store.User
		status           string
		created, updated int64
		verified         sql.NullInt64
	)
	if err := s.Scan(&u.ID, &u.Email, &u.PasswordHash, &status, &created, &updated, &u.EmailUnverified, &verified); err != nil {
		return store.User{}, err
	}
	u.Status = store.UserStatus(status)
	u.CreatedAt, u.UpdatedAt = fromNanos(created), fromNanos(updated)
	u.EmailVerifiedAt = fromNull(verified)
	return u, nil
}
