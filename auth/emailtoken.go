package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// The single-use tokens of the e-mail links. A token is 32 random bytes
// (256 bits: not guessable, RFC 4086 §8), sent base64url-encoded (43
// characters) in the link; the store keeps only its SHA-256, so a copy of
// the database holds no usable token. A fast hash suffices: the input is
// random, not a password.

const emailTokenBytes = 32

// newEmailToken returns a new token and the hash the store keeps.
func newEmailToken() (string, []byte, error) {
	b := make([]byte, emailTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	h := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(b), h[:], nil
}

// emailTokenHash returns the hash of a token as a client presents it, or
// false when it cannot be one of ours (then it is refused before any
// lookup).
func emailTokenHash(tok string) ([]byte, bool) {
	if len(tok) != base64.RawURLEncoding.EncodedLen(emailTokenBytes) {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) != emailTokenBytes {
		return nil, false
	}
	h := sha256.Sum256(b)
	return h[:], true
}

// MailThrottle limits the requests that send e-mail, per address and per
// client IP: password-reset requests and verification resends. A Throttle
// may implement it (ratelimit.Throttle does); the limits apply to every
// address alike, known or not, so a refusal tells nothing about accounts.
type MailThrottle interface {
	AllowPasswordReset(ctx context.Context, email, ip string) error
	AllowVerificationResend(ctx context.Context, email, ip string) error
}

// mailFlow reports why the e-mail flow what cannot run, or nil: the
// application keeps its own users (their passwords are its business), the
// store has no password lifecycle, or (when needsMailer) there is no mail
// server.
func (s *Service) mailFlow(what string, needsMailer bool) error {
	switch {
	case !s.builtin:
		return fail(CodeNotImplemented, reasonNotBuiltin, nil)
	case s.creds == nil:
		return fail(CodeNotImplemented, "this store cannot change passwords", nil)
	case needsMailer && s.mailer == nil:
		return fail(CodeNotImplemented, what+" by e-mail is not available: no mail server is configured (SMTP_URL)", nil)
	}
	return nil
}

// linkRequest describes a request that mails a link: the flow's name (for
// CodeNotImplemented), the token's kind and lifetime, its limit, and its
// two audit events.
type linkRequest struct {
	what               string
	kind               store.TokenKind
	ttl                time.Duration
	allow              func(MailThrottle, context.Context, string, string) error
	limited, requested string
}

// requestLink is the work of RequestPasswordReset and ResendVerification:
// check the address, apply the limit per address and per client IP
// (MailThrottle), then sendLink. The caller learns nil whether or not the
// address is a user's.
func (s *Service) requestLink(ctx context.Context, email string, r linkRequest) error {
	if err := s.mailFlow(r.what, true); err != nil {
		return err
	}
	email = NormalizeEmail(email)
	if !validEmail(email) {
		return fail(CodeInvalidRequest, "email must be a valid address", nil)
	}
	ip := clientIP(ctx)
	if t, ok := s.throttle.(MailThrottle); ok {
		if err := r.allow(t, ctx, email, ip); err != nil {
			s.log.WarnContext(ctx, "audit", "event", r.limited, "limit", limitOf(err), "ip", ip)
			return err
		}
	}
	id, err := s.sendLink(ctx, r.kind, email, r.ttl)
	if err != nil {
		return s.internal(err)
	}
	// user_id is empty when the address is nobody's (or an inactive
	// user's): the log says so, the caller never learns it.
	s.log.InfoContext(ctx, "audit", "event", r.requested, "user_id", id, "mail_queued", id != "", "ip", ip)
	return nil
}

// sendLink issues a token of kind for the user with email (if one
// qualifies: see store.Credentials.IssueToken) and queues the e-mail with
// its link, valid for ttl. The work is the same whether or not the address
// is a user's (a token is made, a message composed and sealed, one write
// made), so its duration does not tell. It returns the user's id, "" when
// none qualified.
func (s *Service) sendLink(ctx context.Context, kind store.TokenKind, email string, ttl time.Duration) (string, error) {
	tok, hash, err := newEmailToken()
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	exp := now.Add(ttl)
	m, err := s.mailer.Compose(ctx, MailRequest{Kind: kind, To: email, Token: tok, IssuedAt: now, ExpiresAt: exp})
	if err != nil {
		return "", err
	}
	id, err := s.creds.IssueToken(ctx, store.TokenRequest{Kind: kind, Email: email, Hash: hash, Now: now, ExpiresAt: exp, Mail: m})
	if err != nil {
		return "", err
	}
	if id != "" {
		s.mailer.Queued()
	}
	return id, nil
}

// liveToken looks up a presented token of kind: CodeEmailTokenInvalid when
// it is malformed, unknown or of another kind, CodeEmailTokenExpired when
// it has expired.
func (s *Service) liveToken(ctx context.Context, tok string, kind store.TokenKind) ([]byte, store.Token, error) {
	hash, ok := emailTokenHash(tok)
	if !ok {
		return nil, store.Token{}, newError(CodeEmailTokenInvalid, nil)
	}
	t, err := s.creds.TokenByHash(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && t.Kind != kind):
		return nil, store.Token{}, newError(CodeEmailTokenInvalid, nil)
	case err != nil:
		return nil, store.Token{}, s.internal(err)
	case !s.now().Before(t.ExpiresAt):
		return nil, store.Token{}, newError(CodeEmailTokenExpired, nil)
	}
	return hash, t, nil
}
