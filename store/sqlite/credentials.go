package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/latchkey-dev/latchkey/store"
)

var _ store.Credentials = (*DB)(nil)

// The writes of the password lifecycle go through the group commit
// (batch.go) like every other write, each inside its own SAVEPOINT: a write
// that fails as expected (a spent token, a stale password) undoes its
// statements and leaves the rest of the batch alone.

// upsertToken stores a user's token of a kind, replacing the previous one.
const upsertToken = `INSERT INTO user_tokens (user_id, kind, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (user_id, kind) DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at, expires_at = excluded.expires_at`

// IssueToken stores the token of the user with r.Email (when one
// qualifies) and queues its mail in one write; see store.Credentials.
func (db *DB) IssueToken(ctx context.Context, r store.TokenRequest) (string, error) {
	var e enc
	now, exp := e.time(r.Now), e.time(r.ExpiresAt)
	mailArgs := mailInsertArgs(&e, r.Mail)
	if e.err != nil {
		return "", e.err
	}
	if len(r.Hash) == 0 {
		return "", errors.New("sqlite: issue token: no hash")
	}
	var userID string
	err := db.submit(ctx, true, func(t *wtx) error {
		userID = ""
		query := `SELECT id FROM users WHERE email = ? AND status = 'active'`
		if r.Kind == store.TokenEmailVerification {
			query += ` AND email_unverified <> 0`
		}
		if err := t.rows(query, []any{r.Email}, func(st *sqlite3.Stmt) error {
			userID = st.ColumnText(0)
			return nil
		}); err != nil {
			return err
		}
		// The same upsert whether or not a user qualifies: the token of no
		// user is the row of user_id ''.
		if _, err := t.exec(upsertToken, userID, string(r.Kind), r.Hash, now, exp); err != nil {
			return err
		}
		if userID == "" || r.Mail.ID == "" {
			return nil
		}
		_, err := t.exec(insertMail, mailArgs...)
		return err
	})
	if err != nil {
		return "", db.wrap(ctx, "issue token", err)
	}
	return userID, nil
}

// TokenByHash returns a user's token by its hash.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	var (
		t                store.Token
		kind             string
		created, expires int64
	)
	err := db.r.QueryRowContext(ctx, `SELECT user_id, kind, hash, created_at, expires_at FROM user_tokens
		WHERE hash = ? AND user_id <> ''`, hash).Scan(&t.UserID, &kind, &t.Hash, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, fmt.Errorf("sqlite: token by hash: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Token{}, db.wrap(ctx, "token by hash", err)
	}
	t.Kind, t.CreatedAt, t.ExpiresAt = store.TokenKind(kind), fromNanos(created), fromNanos(expires)
	return t, nil
}

// consumeToken deletes the live token of kind with hash, if its user exists
// and is active, and returns the user's id ("" when there is none).
const consumeToken = `DELETE FROM user_tokens
	WHERE hash = ? AND kind = ? AND expires_at > ? AND user_id <> ''
	  AND user_id IN (SELECT id FROM users WHERE status = 'active')
	RETURNING user_id`

func consume(t *wtx, hash []byte, kind store.TokenKind, now any) (string, error) {
	var userID string
	err := t.rows(consumeToken, []any{hash, string(kind), now}, func(st *sqlite3.Stmt) error {
		userID = st.ColumnText(0)
		return nil
	})
	return userID, err
}

// SetPassword changes a password, voids the user's reset token, revokes
// the sessions p selects and records the security events, in one write;
// see store.Credentials.
func (db *DB) SetPassword(ctx context.Context, p store.PasswordChange) (store.PasswordChanged, error) {
	var e enc
	now := e.time(p.Now)
	if e.err != nil {
		return store.PasswordChanged{}, e.err
	}
	if p.NewHash == "" || (p.UserID == "") == (len(p.TokenHash) == 0) {
		return store.PasswordChanged{}, errors.New("sqlite: set password: a new hash and exactly one of UserID and TokenHash are required")
	}
	txn := txnOf(p.Txn)
	var out store.PasswordChanged
	err := db.submit(ctx, true, func(t *wtx) error {
		out = store.PasswordChanged{UserID: p.UserID, Txn: txn}
		query, args := `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`, []any{p.NewHash, now}
		if len(p.TokenHash) > 0 {
			id, err := consume(t, p.TokenHash, store.TokenPasswordReset, now)
			if err != nil {
				return err
			}
			if id == "" {
				return expected(store.ErrStale)
			}
			out.UserID = id
			// The token came by e-mail to the user's address.
			query = `UPDATE users SET password_hash = ?, updated_at = ?, email_unverified = 0,
				email_verified_at = coalesce(email_verified_at, ?2) WHERE id = ?`
		}
		args = append(args, out.UserID)
		if p.CurrentHash != "" {
			query += ` AND password_hash = ?`
			args = append(args, p.CurrentHash)
		}
		n, err := t.exec(query, args...)
		if err != nil {
			return err
		}
		if n == 0 {
			if p.CurrentHash != "" && userExists(t, out.UserID) {
				return expected(store.ErrStale)
			}
			return expected(store.ErrNotFound)
		}
		if _, err := t.exec(`DELETE FROM user_tokens WHERE user_id = ? AND kind = ?`, out.UserID, string(store.TokenPasswordReset)); err != nil {
			return err
		}
		if !p.KeepSessions {
			revoked, err := revokeRecorded(t, revokeByUser, []any{now, p.Reason, out.UserID, p.ExceptSessionID}, p.Reason, txn, now)
			if err != nil {
				return err
			}
			out.Revoked = int(revoked)
		}
		return recordEvent(t, store.EventCredentialChange, "", out.UserID, p.Reason, txn, now)
	})
	if err != nil {
		return store.PasswordChanged{}, db.wrap(ctx, "set password", err)
	}
	return out, nil
}

func userExists(t *wtx, id string) bool {
	found := false
	_ = t.rows(`SELECT 1 FROM users WHERE id = ?`, []any{id}, func(*sqlite3.Stmt) error {
		found = true
		return nil
	})
	return found
}

// StartSession creates a sign-in's session, and stores the re-hash of its
// password, in one write, only while the user is active and its hash is the
// one the sign-in checked; see store.Credentials. The single writer runs it
// before or after a password change, never across it.
func (db *DB) StartSession(ctx context.Context, r store.SessionStart) ([]string, error) {
	var e enc
	args, now := sessionArgs(&e, r.Session)
	if e.err != nil {
		return nil, e.err
	}
	if r.PasswordHash == "" {
		return nil, errors.New("sqlite: start session: the checked password hash is required")
	}
	var evicted []string
	err := db.submit(ctx, true, func(t *wtx) error {
		evicted = evicted[:0]
		query, qargs := `SELECT 1 FROM users WHERE id = ? AND password_hash = ? AND status = 'active'`, []any{r.Session.UserID, r.PasswordHash}
		if r.NewPasswordHash != "" {
			query, qargs = `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND password_hash = ? AND status = 'active'
				RETURNING 1`, []any{r.NewPasswordHash, now, r.Session.UserID, r.PasswordHash}
		}
		found := false
		if err := t.rows(query, qargs, func(*sqlite3.Stmt) error {
			found = true
			return nil
		}); err != nil {
			return err
		}
		if !found {
			return expected(store.ErrStale)
		}
		return createSession(t, r.Session, args, now, r.MaxPerUser, &evicted)
	})
	if err != nil {
		return nil, db.wrap(ctx, "start session", err)
	}
	return evicted, nil
}

// VerifyEmail consumes a verification token and marks its user's address
// verified, in one write.
func (db *DB) VerifyEmail(ctx context.Context, hash []byte, now time.Time) (string, error) {
	var e enc
	at := e.time(now)
	if e.err != nil {
		return "", e.err
	}
	var userID string
	err := db.submit(ctx, true, func(t *wtx) error {
		id, err := consume(t, hash, store.TokenEmailVerification, at)
		if err != nil {
			return err
		}
		if id == "" {
			return expected(store.ErrStale)
		}
		userID = id
		_, err = t.exec(`UPDATE users SET email_unverified = 0, email_verified_at = ?, updated_at = ? WHERE id = ?`, at, at, id)
		return err
	})
	if err != nil {
		return "", db.wrap(ctx, "verify email", err)
	}
	return userID, nil
}
