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
	return s.requestLink(ctx, email, linkRequest{what: "password reset", kind: store.TokenPasswordReset,
		ttl: s.policy.PasswordResetTTL, allow: MailThrottle.AllowPasswordReset,
		limited: "password.reset_rate_limited", requested: "password.reset_requested"})
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
