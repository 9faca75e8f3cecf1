package auth

import (
	"context"
	"errors"

	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/store"
)

// Users is where accounts live. An application that already has a users
// table implements it and keeps its table: Latchkey then owns only sessions
// and tokens. Without one, the built-in users in the Store are used
// (StoreUsers).
//
// Implementations return an error wrapping store.ErrNotFound for an unknown
// user. The Email given to UserByEmail is already normalised (trimmed,
// lower-case). A user whose Status is not UserActive cannot sign in
// or refresh.
type Users interface {
	UserByEmail(ctx context.Context, email string) (User, error)
	UserByID(ctx context.Context, id string) (User, error)
	// VerifyPassword reports whether password is u's. It may take as long as
	// a password hash takes; it is called once per sign-in.
	VerifyPassword(ctx context.Context, u User, password string) (bool, error)
}

// StoreUsers returns the built-in Users: the users table of st, argon2id
// hashes checked by h (bcrypt hashes of imported users are accepted and
// re-hashed with argon2id on the next successful sign-in).
func StoreUsers(st store.Store, h *password.Hasher) Users { return &storeUsers{st: st, h: h} }

type storeUsers struct {
	st store.Store
	h  *password.Hasher
}

func (s *storeUsers) UserByEmail(ctx context.Context, email string) (User, error) {
	return s.st.UserByEmail(ctx, email)
}

func (s *storeUsers) UserByID(ctx context.Context, id string) (User, error) {
	return s.st.UserByID(ctx, id)
}

func (s *storeUsers) VerifyPassword(ctx context.Context, u User, pw string) (bool, error) {
	ok, rehash, err := s.h.Verify(ctx, u.PasswordHash, pw)
	if err != nil {
		if errors.Is(err, password.ErrBusy) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return false, err
		}
		return false, nil // an unusable stored hash is a mismatch, not an outage
	}
	if ok && rehash {
		if h, err := s.h.Hash(ctx, pw); err == nil {
			u.PasswordHash = h
			_ = s.st.UpdateUser(ctx, u) // best effort; the next sign-in tries again
		}
	}
	return ok, nil
}
