package auth

import (
	"context"
	"errors"

	"github.com/latchkey-dev/latchkey/store"
)

// RequestPasswordReset sends a password-reset link to email when it is the
// address of an active user, and does nothing visible otherwise: the
// caller learns the same (nil) after the same work whether the address is
// a user's, an inactive user's or nobody's (no account enumeration). The
// link carries a single-use token valid for Policy.PasswordResetTTL; a newer
// request, a use, or a password change voids it. The mail is queued in the
// same transaction as the token and sent in the background: the request
// never waits for the mail server.
//
// Requests are limited per address and per client IP (MailThrottle);
// CodeNotImplemented without a Mailer.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	if err := s.mailFlow("password reset", true); err != nil {
		return err
	}
	email = NormalizeEmail(email)
	if !validEmail(email) {
		return fail(CodeInvalidRequest, "email must be a valid address", nil)
	}
	ip := clientIP(ctx)
	if t, ok := s.throttle.(MailThrottle); ok {
		if err := t.AllowPasswordReset(ctx, email, ip); err != nil {
			s.log.WarnContext(ctx, "audit", "event", "password.reset_rate_limited", "limit", limitOf(err), "ip", ip)
			return err
		}
	}
	id, err := s.sendLink(ctx, store.TokenPasswordReset, email, s.policy.PasswordResetTTL)
	if err != nil {
		return s.internal(err)
	}
	// user_id is empty when the address is nobody's (or an inactive
	// user's): the log says so, the caller never learns it.
	s.log.InfoContext(ctx, "audit", "event", "password.reset_requested", "user_id", id, "mail_queued", id != "", "ip", ip)
	return nil
}

// ResetPassword sets a new password with a token from a reset link. The
// token is consumed, the new hash stored, every session of the user
// revoked and the address counted as verified, in one transaction: of
// concurrent resets with one token exactly one succeeds. A token that is
// unknown, used, replaced by a newer one or voided by a password change is
// CodeEmailTokenInvalid; an expired one CodeEmailTokenExpired.
func (s *Service) ResetPassword(ctx context.Context, tok, next string) error {
	if err := s.mailFlow("password reset", false); err != nil {
		return err
	}
	if err := validPassword(next); err != nil {
		return err
	}
	hash, _, err := s.liveToken(ctx, tok, store.TokenPasswordReset)
	if err != nil {
		return err
	}
	newHash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return s.internal(err)
	}
	res, err := s.creds.SetPassword(ctx, store.PasswordChange{TokenHash: hash, NewHash: newHash, Reason: ReasonPasswordReset,
		Now: s.now().UTC(), Txn: newID()})
	if errors.Is(err, store.ErrStale) || errors.Is(err, store.ErrNotFound) {
		// Used by a concurrent reset, replaced, voided or expired since
		// the lookup.
		return newError(CodeEmailTokenInvalid, err)
	} else if err != nil {
		return s.internal(err)
	}
	s.log.InfoContext(ctx, "audit", "event", "password.reset", "user_id", res.UserID, "sessions_revoked", res.Revoked, "txn", res.Txn,
		"ip", clientIP(ctx))
	return nil
}
