package auth

import (
	"context"
	"errors"
	"time"

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

// DummyVerifier is an optional interface of Users. For an email that matches
// no user, SignIn calls VerifyDummy where it would have called
// VerifyPassword: it should do the work VerifyPassword does for a real user
// (compare the password with a fixed hash of the same algorithm and cost) and
// return only the errors VerifyPassword would (an outage, a cancelled
// context), so that a sign-in takes as long whether or not the email has an
// account.
//
// Users that do not implement it get the same time, though not the same
// work: for an unknown email SignIn waits as long as the application's
// VerifyPassword has been taking (a moving average of the checks so far, which
// failed checks may raise but never lower: an attacker makes those at will, and
// some are instant), or, before the first check, verifies a dummy argon2id
// hash. The average is an estimate an attacker can push: down with successful
// sign-ins to an account of their own with a cheaper hash than others', up by
// loading the server (checks under load are slower), after which unknown
// emails answer slower than known ones until successful sign-ins bring it
// back. Implement DummyVerifier whenever timing matters, and always when the
// hashes are costly (bcrypt cost 12 takes about ten times Latchkey's
// argon2id) or their cost varies between users.
type DummyVerifier interface {
	VerifyDummy(ctx context.Context, password string) error
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

// VerifyDummy verifies a dummy argon2id hash of the production parameters:
// the work of a real check.
func (s *storeUsers) VerifyDummy(ctx context.Context, pw string) error {
	if s.h == nil {
		return nil
	}
	return verifyErr(s.h.VerifyDummy(ctx, pw))
}

func (s *storeUsers) VerifyPassword(ctx context.Context, u User, pw string) (bool, error) {
	ok, rehash, err := s.verify(ctx, u, pw)
	if err == nil && rehash != "" {
		if _, creds := s.st.(store.Credentials); !creds {
			// A store without StartSession: store the re-hash now, best
			// effort (the next sign-in tries again).
			u.PasswordHash = rehash
			_ = s.st.UpdateUser(ctx, u)
		}
	}
	return ok, err
}

// verify checks pw against u's hash and returns, when it matches and the
// hash has other parameters than the hasher's (or is an imported bcrypt
// hash), the password hashed again, for the sign-in to store with its
// session (store.Credentials.StartSession): written there, it cannot replace
// a password changed since u was read.
func (s *storeUsers) verify(ctx context.Context, u User, pw string) (ok bool, rehash string, err error) {
	ok, again, err := s.h.Verify(ctx, u.PasswordHash, pw)
	if err != nil {
		return false, "", verifyErr(err)
	}
	if ok && again {
		if h, err := s.h.Hash(ctx, pw); err == nil {
			rehash = h // else not now; the next sign-in tries again
		}
	}
	return ok, rehash, nil
}

// verifyErr keeps the errors of a password check that are failures (the
// hasher saturated, the caller gone) and drops the others: an unusable
// stored hash is a mismatch, not an outage.
func verifyErr(err error) error {
	if errors.Is(err, password.ErrBusy) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// checkPassword is Users.VerifyPassword; for Users without VerifyDummy it
// also keeps the moving average of how long the check takes. For the
// built-in users on a store with StartSession it returns the re-hash to
// store with the session (see storeUsers.verify) instead of writing it.
func (s *Service) checkPassword(ctx context.Context, u User, pw string) (ok bool, rehash string, err error) {
	if su, builtin := s.users.(*storeUsers); builtin && s.creds != nil {
		return su.verify(ctx, u, pw)
	}
	if _, ok := s.users.(DummyVerifier); ok {
		ok, err := s.users.VerifyPassword(ctx, u, pw)
		return ok, "", err
	}
	start := time.Now()
	ok, err = s.users.VerifyPassword(ctx, u, pw)
	if err == nil {
		// A check that succeeded compared the right password with the
		// user's real hash: it did a check's whole work, and is learnt from
		// either way. A failed check may have been instant (an account
		// without a password, one the application refuses before hashing),
		// and failed sign-ins are what an attacker makes at will: they may
		// raise the average, never lower it, or a burst of them on an
		// account of the attacker's own would drag the wait for unknown
		// emails down to nothing.
		d := time.Since(start)
		avg := time.Duration(s.verifyTime.Load())
		if avg > 0 {
			d = avg + (d-avg)/8
		}
		if ok || d > avg {
			s.verifyTime.Store(int64(d)) // a lost update between two sign-ins is harmless
		}
	}
	return ok, "", err
}

// spendOnUnknown spends, for an email that matches no user, what a password
// check spends (see DummyVerifier), so that timing does not tell which emails
// exist.
func (s *Service) spendOnUnknown(ctx context.Context, pw string) error {
	if dv, ok := s.users.(DummyVerifier); ok {
		return dv.VerifyDummy(ctx, pw)
	}
	if avg := time.Duration(s.verifyTime.Load()); avg > 0 {
		t := time.NewTimer(avg)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.hasher != nil {
		return verifyErr(s.hasher.VerifyDummy(ctx, pw))
	}
	return nil
}

type userAtHandKey struct{}

// withUserAtHand returns ctx carrying u, the user record a call has just
// read, for the claims hook (see ClaimsFunc), without its password hash: a
// hook has no use for it, and must not copy it into a token by mistake.
func withUserAtHand(ctx context.Context, u User) context.Context {
	u.PasswordHash = ""
	return context.WithValue(ctx, userAtHandKey{}, u)
}

// userAtHand returns the user record ctx carries for userID, or nil.
func userAtHand(ctx context.Context, userID string) *User {
	if u, ok := ctx.Value(userAtHandKey{}).(User); ok && u.ID == userID {
		return &u
	}
	return nil
}
