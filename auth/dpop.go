package auth

import (
	"context"
	"errors"

	"github.com/latchkey-dev/latchkey/store"
)

// DPoP (RFC 9449) in the domain. The HTTP layer checks a request's proof
// (signature, htm, htu, iat, ath, nonce) and hands the result over in
// Meta; the domain decides what it means for the session:
//
//   - a sign-in with a valid proof creates a session bound to the proof's
//     key (Session.JKT); its tokens carry cnf.jkt and its token type is DPoP;
//   - every refresh of a bound session needs a valid proof by that key. A
//     refresh without one, with one by another key, or with an invalid or
//     replayed one is refused with CodeInvalidDPoPProof and an audit event,
//     before anything is written: the session stays as it was, and the
//     refused token does not count as reuse (the token alone is worthless,
//     so whoever holds it without the key must not be able to revoke the
//     session either);
//   - a bearer session stays bearer: a proof on its refresh binds nothing
//     (a session's binding never changes), though an invalid one is still
//     refused.
//
// The proof's jti is recorded in the store's replay cache: on a refresh in
// the same transaction as the rotation (RotateParams.Proof), elsewhere by
// UseProof; a proof recorded before is refused (reason "replay").

// Reasons of CodeInvalidDPoPProof the domain decides (the others are the
// HTTP layer's checks).
const (
	ReasonProofMissing = "missing"
	ReasonKeyMismatch  = "key_mismatch"
	ReasonReplay       = "replay"
)

// ProofRefused is the error of a refused proof for reason; nonce says that
// the nonce alone is missing or stale (CodeUseDPoPNonce).
func ProofRefused(reason string, nonce bool, cause error) *Error {
	if nonce {
		return &Error{Code: CodeUseDPoPNonce, Message: messages[CodeUseDPoPNonce], Err: cause, Reason: reason}
	}
	msg := messages[CodeInvalidDPoPProof] + " (" + reason + ")"
	return &Error{Code: CodeInvalidDPoPProof, Message: msg, Err: cause, Reason: reason}
}

// proofRefused logs the audit event of a refused proof and returns its
// error. A missing nonce is the protocol's normal first round trip, not an
// event.
func (s *Service) proofRefused(ctx context.Context, event string, err *Error, userID, sessionID string, m Meta) error {
	if err.Code == CodeInvalidDPoPProof {
		s.log.WarnContext(ctx, "audit", "event", event, "reason", err.Reason, "user_id", userID, "session_id", sessionID, "ip", m.IP)
	}
	return err
}

// proofError returns the domain error of the proof failure the HTTP layer
// reported in m, or nil.
func proofError(m Meta) *Error {
	if m.ProofError == nil {
		return nil
	}
	var e *Error
	if errors.As(m.ProofError, &e) {
		return e
	}
	return ProofRefused("invalid", false, m.ProofError)
}

// bindingError checks a refresh's proof against the key the session is
// bound to (jkt, "" for a bearer session): nil when the refresh may go on.
func bindingError(jkt string, m Meta) *Error {
	if jkt == "" && m.BoundOnly {
		return nil
	}
	if e := proofError(m); e != nil {
		return e
	}
	switch {
	case jkt == "":
		return nil
	case m.Proof == nil:
		return ProofRefused(ReasonProofMissing, false, nil)
	case m.Proof.JKT != jkt:
		return ProofRefused(ReasonKeyMismatch, false, nil)
	}
	return nil
}

// useProof records m.Proof in the replay cache (sign-in, revocation): a
// replay is refused with the audit event.
func (s *Service) useProof(ctx context.Context, event, userID, sessionID string, m Meta) error {
	err := s.UseProof(ctx, *m.Proof)
	if e, ok := err.(*Error); ok && e.Code == CodeInvalidDPoPProof {
		return s.proofRefused(ctx, event, e, userID, sessionID, m)
	}
	return err
}

// UseProof records a checked proof presented with an access token in the
// replay cache: CodeInvalidDPoPProof (reason replay) if it was used before,
// by any instance sharing the store.
func (s *Service) UseProof(ctx context.Context, p Proof) error {
	err := s.store.UseProof(ctx, store.ProofUse{Key: p.Key, Expires: p.Expires})
	if errors.Is(err, store.ErrReplay) {
		return ProofRefused(ReasonReplay, false, err)
	}
	if err != nil {
		return s.internal(err)
	}
	return nil
}
