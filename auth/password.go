package auth

import (
	"context"
	"errors"

	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/store"
)

// The revoke reasons of a password change: the sessions it ends say why.
const (
	ReasonPasswordChanged = "password_changed"      // the user changed it, signing out the other sessions
	ReasonPasswordReset   = "password_reset"        // reset through an e-mailed link: every session
	ReasonPasswordSet     = "password_set_by_admin" // latchkey user set-password: every session
	reasonNotBuiltin      = "passwords are managed by the application"
)

// ChangePassword sets a new password for the caller, who proves to know
// the current one. The check goes through the same bounded hasher and the
// same per-account and per-IP failure limits as a sign-in (a stolen access
// token is no way around them). The new hash, the revocation of every other
// session of the user (unless signOutOthers is false: the caller's explicit
// choice), the voiding of any password-reset link and the security events
// (CAEP session-revoked per session ended, credential-change) are one
// store transaction (store.Credentials.SetPassword). The caller's session
// stays.
//
// A wrong current password is CodeCurrentPasswordInvalid and changes
// nothing; so is a current password changed by another request meanwhile
// (the change is a compare-and-set on the stored hash).
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next string, signOutOthers bool) error {
	if !s.builtin {
		return fail(CodeNotImplemented, reasonNotBuiltin, nil)
	}
	if s.creds == nil {
		return fail(CodeNotImplemented, "this store cannot change passwords", nil)
	}
	if current == "" || next == "" {
		return fail(CodeInvalidRequest, "the current and the new password are required", nil)
	}
	if err := validPassword(next); err != nil {
		return err
	}
	if err := s.callerLive(ctx, p); err != nil {
		return err
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return newError(CodeUserNotFound, nil)
	} else if err != nil {
		return s.internal(err)
	}
	if u.Status != UserActive {
		return newError(CodeUserInactive, nil)
	}
	ip := clientIP(ctx)
	if s.throttle != nil {
		if err := s.throttle.AllowSignIn(ctx, u.Email, ip); err != nil {
			s.log.WarnContext(ctx, "audit", "event", "password.change_rate_limited", "limit", limitOf(err), "user_id", u.ID, "ip", ip)
			return err
		}
	}
	if len(current) > password.MaxLength {
		return s.wrongPassword(ctx, u, ip)
	}
	ok, _, err := s.hasher.Verify(ctx, u.PasswordHash, current)
	if err != nil && (errors.Is(err, password.ErrBusy) || ctx.Err() != nil) {
		return s.internal(err)
	}
	if err != nil || !ok {
		return s.wrongPassword(ctx, u, ip)
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return s.internal(err)
	}
	change := store.PasswordChange{UserID: u.ID, CurrentHash: u.PasswordHash, NewHash: hash,
		KeepSessions: !signOutOthers, ExceptSessionID: p.SessionID, Reason: ReasonPasswordChanged, Now: s.now().UTC(), Txn: newID()}
	res, err := s.creds.SetPassword(ctx, change)
	if errors.Is(err, store.ErrStale) {
		// The stored hash is no longer the one checked: a sign-in may have
		// stored its re-hash of the same password. Check the current
		// password once more against what is stored now.
		if again, ok, verr := s.recheck(ctx, u, current); verr != nil {
			return s.internal(verr)
		} else if ok {
			change.CurrentHash = again.PasswordHash
			res, err = s.creds.SetPassword(ctx, change)
		}
	}
	switch {
	case errors.Is(err, store.ErrStale):
		return s.wrongPassword(ctx, u, ip) // changed meanwhile: the password given is no longer the current one
	case errors.Is(err, store.ErrNotFound):
		return newError(CodeUserNotFound, nil)
	case err != nil:
		return s.internal(err)
	}
	s.log.InfoContext(ctx, "audit", "event", "password.changed", "user_id", u.ID, "session_id", p.SessionID,
		"sessions_revoked", res.Revoked, "txn", res.Txn, "ip", ip)
	return nil
}

// recheck reads u again and, when its stored hash has changed, checks pw
// against the new one: ok when pw is still the active user's password.
func (s *Service) recheck(ctx context.Context, u User, pw string) (User, bool, error) {
	cur, err := s.store.UserByID(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return User{}, false, nil
	} else if err != nil {
		return User{}, false, err
	}
	if cur.Status != UserActive || cur.PasswordHash == u.PasswordHash {
		return User{}, false, nil
	}
	ok, _, err := s.hasher.Verify(ctx, cur.PasswordHash, pw)
	if err != nil && (errors.Is(err, password.ErrBusy) || ctx.Err() != nil) {
		return User{}, false, err
	}
	return cur, err == nil && ok, nil
}

func (s *Service) wrongPassword(ctx context.Context, u User, ip string) error {
	if s.throttle != nil {
		s.throttle.SignInFailed(context.WithoutCancel(ctx), u.Email, ip) // see Throttle
	}
	s.log.InfoContext(ctx, "audit", "event", "password.change_failed", "reason", CodeCurrentPasswordInvalid, "user_id", u.ID, "ip", ip)
	return newError(CodeCurrentPasswordInvalid, nil)
}

// AdminSetPassword sets a user's password as a reset does (latchkey user
// set-password): the new hash, the revocation of every session of the user
// and the voiding of any reset link, in one transaction. It returns how
// many sessions it revoked.
func (s *Service) AdminSetPassword(ctx context.Context, email, pw string) (int, error) {
	if !s.builtin {
		return 0, fail(CodeNotImplemented, reasonNotBuiltin, nil)
	}
	if s.creds == nil {
		return 0, fail(CodeNotImplemented, "this store cannot change passwords", nil)
	}
	if err := validPassword(pw); err != nil {
		return 0, err
	}
	u, err := s.UserByEmail(ctx, email)
	if err != nil {
		return 0, err
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return 0, s.internal(err)
	}
	res, err := s.creds.SetPassword(ctx, store.PasswordChange{UserID: u.ID, NewHash: hash, Reason: ReasonPasswordSet, Now: s.now().UTC(), Txn: newID()})
	if errors.Is(err, store.ErrNotFound) {
		return 0, newError(CodeUserNotFound, nil)
	} else if err != nil {
		return 0, s.internal(err)
	}
	s.log.InfoContext(ctx, "audit", "event", "password.set_by_admin", "user_id", u.ID, "sessions_revoked", res.Revoked, "txn", res.Txn)
	return res.Revoked, nil
}
