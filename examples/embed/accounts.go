package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/store"
)

// accounts is the application's users table as Latchkey's auth.Users. The
// queries use $n placeholders, which SQLite reads too.
type accounts struct {
	db    *sql.DB
	cost  int    // bcrypt cost of new hashes
	dummy []byte // a bcrypt hash of the same cost, for unknown emails
}

var _ auth.DummyVerifier = accounts{}

func newAccounts(db *sql.DB, cost int) (accounts, error) {
	dummy, err := bcrypt.GenerateFromPassword([]byte("no one's password"), cost)
	if err != nil {
		return accounts{}, err
	}
	return accounts{db: db, cost: cost, dummy: dummy}, nil
}

// user is a row of the users table.
type user struct {
	store.User
	plan string
}

func (a accounts) one(ctx context.Context, where, arg string) (user, error) {
	var (
		u      user
		active bool
	)
	err := a.db.QueryRowContext(ctx, `SELECT id, email, password_hash, active, plan FROM users WHERE `+where, arg).
		Scan(&u.ID, &u.Email, &u.PasswordHash, &active, &u.plan)
	if errors.Is(err, sql.ErrNoRows) {
		return user{}, fmt.Errorf("user: %w", store.ErrNotFound)
	}
	if err != nil {
		// An outage of the application's database is Latchkey's 503, not
		// a 500: say so with store.ErrUnavailable. (A real application
		// would tell a broken connection from a bad query here.)
		return user{}, fmt.Errorf("users: %w: %w", store.ErrUnavailable, err)
	}
	u.Status = store.UserInactive
	if active {
		u.Status = store.UserActive
	}
	return u, nil
}

func (a accounts) UserByEmail(ctx context.Context, email string) (store.User, error) {
	u, err := a.one(ctx, "email = $1", email)
	return u.User, err
}

func (a accounts) UserByID(ctx context.Context, id string) (store.User, error) {
	u, err := a.one(ctx, "id = $1", id)
	return u.User, err
}

func (a accounts) VerifyPassword(_ context.Context, u store.User, pw string) (bool, error) {
	return bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(pw)) == nil, nil
}

// VerifyDummy spends on an unknown email what VerifyPassword spends on a
// real one, so sign-in timing does not tell which emails have accounts.
func (a accounts) VerifyDummy(_ context.Context, pw string) error {
	_ = bcrypt.CompareHashAndPassword(a.dummy, []byte(pw))
	return nil
}

// claims is Latchkey's claims hook: the user's plan, in every access token.
// The plan is the application's own column, so it is read here; the record
// Latchkey passes when it has one at hand (the third argument) holds only
// Latchkey's fields (id, email, status).
func (a accounts) claims(ctx context.Context, userID string, _ *auth.User) (map[string]any, error) {
	u, err := a.one(ctx, "id = $1", userID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"plan": u.plan}, nil
}

// add creates an account (sign-up is the application's business).
func (a accounts) add(ctx context.Context, email, pw, plan string) (string, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), a.cost)
	if err != nil {
		return "", err
	}
	id := uuid.NewString()
	_, err = a.db.ExecContext(ctx, `INSERT INTO users (id, email, password_hash, plan) VALUES ($1, $2, $3, $4)`,
		id, auth.NormalizeEmail(email), string(hash), plan)
	return id, err
}

// setActive (de)activates an account; Latchkey refuses a deactivated
// account's tokens on the next request.
func (a accounts) setActive(ctx context.Context, id string, active bool) error {
	_, err := a.db.ExecContext(ctx, `UPDATE users SET active = $1 WHERE id = $2`, active, id)
	return err
}
