package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey-dev/latchkey/store"
)

const userColumns = `id, email, password_hash, status, created_at, updated_at, email_unverified, email_verified_at`

// CreateUser inserts u; store.ErrConflict if its id or email is taken.
func (db *DB) CreateUser(ctx context.Context, u store.User) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `
		INSERT INTO users (`+userColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.ID, u.Email, u.PasswordHash, string(u.Status), nanos(u.CreatedAt), nanos(u.UpdatedAt),
		u.EmailUnverified, nullNanos(u.EmailVerifiedAt))
	return wrap("create user", err)
}

// UserByID returns the user with id; store.ErrNotFound if there is none.
func (db *DB) UserByID(ctx context.Context, id string) (store.User, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	u, err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	return u, wrap("user by id", err)
}

// UserByEmail returns the user with the (already normalised) email;
// store.ErrNotFound if there is none.
func (db *DB) UserByEmail(ctx context.Context, email string) (store.User, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	u, err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
	return u, wrap("user by email", err)
}

// ListUsers returns every user, oldest first (ties by id, so the order is
// stable).
func (db *DB) ListUsers(ctx context.Context) ([]store.User, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list users", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.User, error) { return scanUser(r) })
	return users, wrap("list users", err)
}

// UpdateUser writes u's Status, PasswordHash and UpdatedAt; store.ErrNotFound
// if there is no user with u.ID.
func (db *DB) UpdateUser(ctx context.Context, u store.User) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `
		UPDATE users SET status = $2, password_hash = $3, updated_at = $4
		WHERE id = $1`,
		u.ID, string(u.Status), u.PasswordHash, nanos(u.UpdatedAt))
	if err != nil {
		return wrap("update user", err)
	}
	if tag.RowsAffected() == 0 {
		return wrap("update user", pgx.ErrNoRows)
	}
	return nil
}

// ActivateUser makes the user active, writing its status and UpdatedAt only.
func (db *DB) ActivateUser(ctx context.Context, id string, now time.Time) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `UPDATE users SET status = $2, updated_at = $3 WHERE id = $1`,
		id, string(store.UserActive), nanos(now))
	if err != nil {
		return wrap("activate user", err)
	}
	if tag.RowsAffected() == 0 {
		return wrap("activate user", pgx.ErrNoRows)
	}
	return nil
}

// DeactivateUser makes the user inactive and revokes its sessions in one
// transaction. The user's row is updated first; the sessions are then locked
// in id order, as RevokeSessions locks them (sessions.go).
func (db *DB) DeactivateUser(ctx context.Context, id, reason string, now time.Time) (int, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	var n int64
	err := retryDeadlock(ctx, func() error {
		return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `UPDATE users SET status = $2, updated_at = $3 WHERE id = $1`,
				id, string(store.UserInactive), nanos(now))
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return pgx.ErrNoRows
			}
			n, err = revoke(ctx, tx, store.RevokeParams{UserID: id, Reason: reason, Now: now}) // with its events, one txn
			return err
		})
	})
	if err != nil {
		return 0, wrap("deactivate user", err)
	}
	return int(n), nil
}

func scanUser(row pgx.Row) (store.User, error) {
	var (
		u                  store.User
		status             string
		created, updatedAt int64
		verified           *int64
	)
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &status, &created, &updatedAt, &u.EmailUnverified, &verified); err != nil {
		return store.User{}, err
	}
	u.EmailVerifiedAt = fromNullNanos(verified)
	u.Status = store.UserStatus(status)
	u.CreatedAt = fromNanos(created)
	u.UpdatedAt = fromNanos(updatedAt)
	return u, nil
}
