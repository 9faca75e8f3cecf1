package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey-dev/latchkey/store"
)

var _ store.Credentials = (*DB)(nil)

// Every write here is one transaction that locks rows in the order
// user_tokens, users, sessions (the sessions in id order, as revoke does),
// the order DeactivateUser and the rotations keep too, so none of them can
// deadlock with another.

// IssueToken stores the token of the user with r.Email (when one
// qualifies) and queues its mail in one transaction; see store.Credentials.
func (db *DB) IssueToken(ctx context.Context, r store.TokenRequest) (string, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	if len(r.Hash) == 0 {
		return "", errors.New("postgres: issue token: no hash")
	}
	var userID string
	err := retryDeadlock(ctx, func() error {
		return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
			userID = ""
			err := tx.QueryRow(ctx, `SELECT id FROM users WHERE email = $1 AND status = 'active' AND ($2 OR email_unverified)`,
				r.Email, r.Kind != store.TokenEmailVerification).Scan(&userID)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			// The same upsert whether or not a user qualifies: the token of no
			// user is the row of user_id ''.
			if _, err := tx.Exec(ctx, `
			INSERT INTO user_tokens (user_id, kind, hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (user_id, kind) DO UPDATE
			SET hash = excluded.hash, created_at = excluded.created_at, expires_at = excluded.expires_at`,
				userID, string(r.Kind), r.Hash, nanos(r.Now), nanos(r.ExpiresAt)); err != nil {
				return err
			}
			if userID == "" || r.Mail.ID == "" {
				return nil
			}
			return insertMail(ctx, tx, r.Mail)
		})
	})
	if err != nil {
		return "", wrap("issue token", err)
	}
	return userID, nil
}

// TokenByHash returns a user's token by its hash.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	var (
		t                store.Token
		kind             string
		created, expires int64
	)
	err := db.pool.QueryRow(ctx, `SELECT user_id, kind, hash, created_at, expires_at FROM user_tokens
		WHERE hash = $1 AND user_id <> ''`, hash).Scan(&t.UserID, &kind, &t.Hash, &created, &expires)
	if err != nil {
		return store.Token{}, wrap("token by hash", err)
	}
	t.Kind, t.CreatedAt, t.ExpiresAt = store.TokenKind(kind), fromNanos(created), fromNanos(expires)
	return t, nil
}

// consume deletes the live token of kind with hash, if its user exists and
// is active, and returns the user's id; errNoMatch when there is none. Of
// concurrent consumers of one token, the first to lock the row deletes it,
// and the others, re-reading the row once it is committed, find it gone.
func consume(ctx context.Context, tx pgx.Tx, hash []byte, kind store.TokenKind, now time.Time) (string, error) {
	var userID string
	err := tx.QueryRow(ctx, `
		DELETE FROM user_tokens
		WHERE hash = $1 AND kind = $2 AND expires_at > $3 AND user_id <> ''
		  AND user_id IN (SELECT id FROM users WHERE status = 'active')
		RETURNING user_id`, hash, string(kind), nanos(now)).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", errNoMatch
	}
	return userID, err
}

// errNoMatch and errNoUser end a transaction that must change nothing;
// they are mapped to store.ErrStale and store.ErrNotFound.
var (
	errNoMatch = errors.New("postgres: compare-and-set did not match")
	errNoUser  = errors.New("postgres: no such user")
)

// SetPassword changes a password, voids the user's reset token, revokes
// the sessions p selects and records the security events, in one
// transaction; see store.Credentials.
func (db *DB) SetPassword(ctx context.Context, p store.PasswordChange) (store.PasswordChanged, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	if p.NewHash == "" || (p.UserID == "") == (len(p.TokenHash) == 0) {
		return store.PasswordChanged{}, errors.New("postgres: set password: a new hash and exactly one of UserID and TokenHash are required")
	}
	txn := txnOf(p.Txn)
	var out store.PasswordChanged
	// A deadlock with a concurrent rotation batch (which locks sessions in
	// the same order, so rarely) rolls the whole change back; run it again.
	err := retryDeadlock(ctx, func() error {
		return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
			out = store.PasswordChanged{UserID: p.UserID, Txn: txn}
			verified := false
			if len(p.TokenHash) > 0 {
				id, err := consume(ctx, tx, p.TokenHash, store.TokenPasswordReset, p.Now)
				if err != nil {
					return err
				}
				// The token came by e-mail to the user's address.
				out.UserID, verified = id, true
			}
			tag, err := tx.Exec(ctx, `
			UPDATE users SET password_hash = $2, updated_at = $3,
				email_unverified = email_unverified AND NOT $4,
				email_verified_at = CASE WHEN $4 THEN coalesce(email_verified_at, $3) ELSE email_verified_at END
			WHERE id = $1 AND ($5 = '' OR password_hash = $5)`,
				out.UserID, p.NewHash, nanos(p.Now), verified, p.CurrentHash)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				if p.CurrentHash == "" {
					return errNoUser
				}
				var exists bool
				if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, out.UserID).Scan(&exists); err != nil {
					return err
				}
				if exists {
					return errNoMatch
				}
				return errNoUser
			}
			if _, err := tx.Exec(ctx, `DELETE FROM user_tokens WHERE user_id = $1 AND kind = $2`,
				out.UserID, string(store.TokenPasswordReset)); err != nil {
				return err
			}
			if !p.KeepSessions {
				// With their session-revoked events (outbox.go).
				n, err := revoke(ctx, tx, store.RevokeParams{UserID: out.UserID, ExceptSessionID: p.ExceptSessionID, Reason: p.Reason,
					Now: p.Now, Txn: txn})
				if err != nil {
					return err
				}
				out.Revoked = int(n)
			}
			_, err = tx.Exec(ctx, `INSERT INTO ssf_events (id, kind, user_id, reason, txn, at)
			VALUES (gen_random_uuid()::text, 'credential-change', $1, $2, $3, $4)`,
				out.UserID, p.Reason, txn, nanos(p.Now))
			return err
		})
	})
	if err != nil {
		return store.PasswordChanged{}, wrapCAS("set password", err)
	}
	return out, nil
}

// StartSession creates a sign-in's session, and stores the re-hash of its
// password, in one transaction, only while the user is active and its hash
// is the one the sign-in checked; see store.Credentials. The user's row is
// locked first (FOR SHARE, or by the re-hash's UPDATE): a password change
// or deactivation holding it is waited for and its outcome re-checked
// (READ COMMITTED re-reads the newest version), and one that comes later
// waits for this session to be committed, so its revocation sees it.
func (db *DB) StartSession(ctx context.Context, r store.SessionStart) ([]string, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	if r.PasswordHash == "" {
		return nil, errors.New("postgres: start session: the checked password hash is required")
	}
	var evicted []string
	err := retryDeadlock(ctx, func() error {
		evicted = evicted[:0]
		return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
			query, args := `SELECT 1 FROM users WHERE id = $1 AND password_hash = $2 AND status = 'active' FOR SHARE`,
				[]any{r.Session.UserID, r.PasswordHash}
			if r.NewPasswordHash != "" {
				query, args = `UPDATE users SET password_hash = $3, updated_at = $4
					WHERE id = $1 AND password_hash = $2 AND status = 'active' RETURNING 1`,
					[]any{r.Session.UserID, r.PasswordHash, r.NewPasswordHash, nanos(r.Session.CreatedAt)}
			}
			var one int
			if err := tx.QueryRow(ctx, query, args...).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
				return errNoMatch
			} else if err != nil {
				return err
			}
			return db.createSession(ctx, tx, r.Session, r.MaxPerUser, &evicted)
		})
	})
	if err != nil {
		return nil, wrapCAS("start session", err)
	}
	return evicted, nil
}

// VerifyEmail consumes a verification token and marks its user's address
// verified, in one transaction.
func (db *DB) VerifyEmail(ctx context.Context, hash []byte, now time.Time) (string, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	var userID string
	err := retryDeadlock(ctx, func() error {
		return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
			id, err := consume(ctx, tx, hash, store.TokenEmailVerification, now)
			if err != nil {
				return err
			}
			userID = id
			_, err = tx.Exec(ctx, `UPDATE users SET email_unverified = false, email_verified_at = $2, updated_at = $2 WHERE id = $1`,
				id, nanos(now))
			return err
		})
	})
	if err != nil {
		return "", wrapCAS("verify email", err)
	}
	return userID, nil
}

// wrapCAS is wrap with errNoMatch and errNoUser mapped to their sentinels.
func wrapCAS(op string, err error) error {
	switch {
	case errors.Is(err, errNoMatch):
		return fmt.Errorf("postgres: %s: %w", op, store.ErrStale)
	case errors.Is(err, errNoUser):
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	return wrap(op, err)
}
