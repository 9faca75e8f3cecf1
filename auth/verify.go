package auth

import (
	"context"
	"errors"

	"github.com/latchkey-dev/latchkey/store"
)

// VerifyEmail marks the address of the token's user verified, consuming a
// token from a verification link. Errors are as for ResetPassword.
// CodeNotImplemented without a Mailer.
func (s *Service) VerifyEmail(ctx context.Context, tok string) error {
	if err := s.mailFlow("e-mail verification", true); err != nil {
		return err
	}
	hash, _, err := s.liveToken(ctx, tok, store.TokenEmailVerification)
	if err != nil {
		return err
	}
	id, err := s.creds.VerifyEmail(ctx, hash, s.now().UTC())
	if errors.Is(err, store.ErrStale) {
		return newError(CodeEmailTokenInvalid, err)
	} else if err != nil {
		return s.internal(err)
	}
	s.log.InfoContext(ctx, "audit", "event", "email.verified", "user_id", id, "ip", clientIP(ctx))
	return nil
}

// ResendVerification sends a new verification link to email when it is the
// address of an active user whose address is not verified yet, voiding the
// previous link; otherwise it does nothing visible, after the same work
// (as RequestPasswordReset). Limited per address and per client IP.
func (s *Service) ResendVerification(ctx context.Context, email string) error {
	return s.requestLink(ctx, email, linkRequest{what: "e-mail verification", kind: store.TokenEmailVerification,
		ttl: s.policy.EmailVerificationTTL, allow: MailThrottle.AllowVerificationResend,
		limited: "email.verification_rate_limited", requested: "email.verification_requested"})
}

// verifyAfterSignUp sends the verification link of a user just created
// unverified. A failure leaves the user unverified and is only logged: the
// account exists, and POST /auth/verify/resend sends a new link.
func (s *Service) verifyAfterSignUp(ctx context.Context, u User) {
	id, err := s.sendLink(ctx, store.TokenEmailVerification, u.Email, s.policy.EmailVerificationTTL)
	if err != nil || id == "" {
		s.log.WarnContext(ctx, "verification e-mail not queued after sign-up; the user can ask for a new one", "user_id", u.ID, "err", err)
		return
	}
	s.log.InfoContext(ctx, "audit", "event", "email.verification_requested", "user_id", u.ID, "mail_queued", true)
}

// requireVerification reports whether sign-ups start unverified.
func (s *Service) requireVerification() bool {
	return s.policy.RequireEmailVerification && s.mailer != nil && s.creds != nil && s.builtin
}
