package auth

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

// Refresh trades a refresh token for new tokens (RFC 6749 §6).
//
// The hot path is one atomic compare-and-set in the store (Rotate): the
// session must be at the token's generation, live, and its user active. Only
// when that fails does Refresh read the session to say why, and then:
//
//   - the immediately preceding generation, within ReuseInterval of the
//     rotation that superseded it, is answered with the session's current
//     generation (two tabs refreshing at once, a response lost on the way);
//   - any other superseded token revokes the whole session: a refresh token
//     that is presented twice has been copied, and revoking the family makes
//     a stolen token die as soon as either party uses it after the other
//     (RFC 6819 §5.2.2.3, RFC 9700 §4.14.2);
//   - a missing or inactive user revokes the session too.
//
// A token is judged by its MAC, its exp and the session's stored generation,
// never by its iat: a server whose clock stepped back, or another instance
// whose clock is a little behind, still honours the tokens it minted.
//
// A rotation that committed is never reported as failed for a reason that
// lies outside the process. Everything that asks something outside it (the
// application's own users, the claims hook) runs before Rotate; what runs
// after Rotate only signs. When the store cannot tell whether the rotation
// committed (store.ErrInDoubt), the client is answered 503 and its retry of
// the same token is recognised (see undelivered).
//
// A token issued to a client (a session started with a client_id) needs
// that clientID: a request naming another client, or none, is refused
// (RFC 6749 §6: a refresh token is bound to its client).
func (s *Service) Refresh(ctx context.Context, refreshToken, clientID string, m Meta) (g *Grant, err error) {
	defer func() { s.observeRefresh(g, err) }()
	now := s.now().UTC()
	rc, err := s.tokens.VerifyRefresh(refreshToken)
	if err != nil {
		if errors.Is(err, token.ErrExpired) {
			return nil, newError(CodeRefreshExpired, err)
		}
		return nil, newError(CodeRefreshInvalid, err)
	}
	if rc.ClientID != "" && clientID != rc.ClientID {
		// A token bound to a client is refused when the request names
		// another client or none (RFC 9700 §4.14: the binding must be
		// checked, and leaving client_id out must not skip it).
		return nil, fail(CodeRefreshInvalid, "the refresh token was issued to another client (client_id)", nil)
	}
	// A session bound to a key refreshes only with a valid proof by that
	// key (RFC 9449 §5). A refusal writes nothing: the session stays as it
	// was and the token does not count as reused.
	if e := bindingError(rc.JKT, m); e != nil {
		return nil, s.proofRefused(ctx, "refresh.dpop_refused", e, rc.Subject, rc.SessionID, m)
	}
	var proof *store.ProofUse
	if rc.JKT != "" {
		proof = &store.ProofUse{Key: m.Proof.Key, Expires: m.Proof.Expires}
	}
	if s.throttle != nil {
		if err := s.throttle.AllowRefresh(ctx, m.IP); err != nil {
			s.log.WarnContext(ctx, "audit", "event", "refresh.rate_limited", "limit", limitOf(err), "user_id", rc.Subject,
				"session_id", rc.SessionID, "ip", m.IP)
			return nil, err
		}
	}
	extra, err := s.beforeRotate(ctx, rc, now)
	if err != nil {
		return nil, err
	}
	// When the compare-and-set fails but the read that explains it finds
	// nothing wrong, the state changed in between (the user deactivated and
	// activated again, say) and the refresh is tried again. Each retry needs
	// another such change, so three attempts in all are plenty; past them the
	// refresh fails as invalid.
	const attempts = 3
	for range attempts {
		sess, err := s.store.Rotate(ctx, store.RotateParams{SessionID: rc.SessionID, Generation: rc.Generation,
			Now: now, RefreshTTL: s.policy.RefreshTTL, Advance: s.policy.Rotation, SkipUserCheck: !s.builtin,
			JKT: rc.JKT, Proof: proof})
		// The proof is recorded by the first attempt whatever its outcome
		// (RotateParams.Proof); a retry must not present it again.
		proof = nil
		if err == nil {
			return s.rotated(ctx, rc, refreshToken, sess, now, extra, m)
		}
		if errors.Is(err, store.ErrReplay) {
			return nil, s.proofRefused(ctx, "refresh.dpop_refused", ProofRefused(ReasonReplay, false, err), rc.Subject, rc.SessionID, m)
		}
		if !errors.Is(err, store.ErrStale) {
			if errors.Is(err, store.ErrInDoubt) && s.policy.Rotation {
				s.undelivered.add(rc.SessionID, rc.Generation, now)
			}
			return nil, s.internal(err)
		}
		g, retry, err := s.explainStale(ctx, rc, now, m, extra)
		if !retry {
			return g, err
		}
	}
	return nil, newError(CodeRefreshInvalid, errors.New("session state kept changing"))
}

// beforeRotate does, for a refresh of rc, everything that asks something
// outside the process, so that none of it can fail after the rotation has
// committed: with the application's own users it checks the token's user
// (the built-in users are checked inside the compare-and-set itself), and it
// computes the claims hook's claims for that user. A failure here changes
// nothing: the client retries the same token, however long the outage.
func (s *Service) beforeRotate(ctx context.Context, rc token.RefreshClaims, now time.Time) (map[string]any, error) {
	if !s.builtin {
		// A user deactivated after this check and before the rotation gets
		// this one refresh; the next is refused.
		u, err := s.checkUser(ctx, rc.SessionID, rc.Subject, now)
		if err != nil {
			return nil, err
		}
		ctx = withUserAtHand(ctx, u) // the claims hook need not read it again
	}
	return s.extraClaims(ctx, rc.Subject)
}

// rotated answers a rotation that committed. It only signs tokens, which
// nothing outside the process can make fail; should it fail all the same,
// the rotation is recorded as undelivered so that the client's retry of
// the same token is answered rather than taken for reuse.
func (s *Service) rotated(ctx context.Context, rc token.RefreshClaims, refreshToken string, sess Session, now time.Time,
	extra map[string]any, m Meta) (*Grant, error) {
	if sess.UserID != rc.Subject {
		return nil, newError(CodeRefreshInvalid, nil)
	}
	gen := sess.Generation
	if !s.policy.Rotation {
		gen = 0 // rotation off: the same refresh token comes back until it expires (as DeployHub's cookie refresh does)
	}
	g, err := s.grant(sess, now, gen, extra)
	if err != nil {
		if s.policy.Rotation {
			s.undelivered.add(sess.ID, rc.Generation, sess.LastRefreshedAt)
		}
		return nil, err
	}
	if !s.policy.Rotation {
		g.RefreshToken, g.RefreshExpiresAt = refreshToken, rc.ExpiresAt
	}
	s.log.InfoContext(ctx, "audit", "event", "refresh", "user_id", sess.UserID, "session_id", sess.ID, "ip", m.IP)
	return g, nil
}

// explainStale reads the session after a failed compare-and-set and decides.
// retry is true when the session is, after all, at the token's generation
// and live (it changed between the two statements).
func (s *Service) explainStale(ctx context.Context, rc token.RefreshClaims, now time.Time, m Meta, extra map[string]any) (*Grant, bool, error) {
	sess, err := s.store.Session(ctx, rc.SessionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, newError(CodeRefreshInvalid, nil) // purged, or never existed
	}
	if err != nil {
		return nil, false, s.internal(err)
	}
	switch {
	case sess.UserID != rc.Subject || sess.Generation < rc.Generation || sess.JKT != rc.JKT:
		return nil, false, newError(CodeRefreshInvalid, nil)
	case sess.Revoked():
		if sess.RevokeReason == string(CodeRefreshReused) {
			return nil, false, newError(CodeRefreshReused, nil)
		}
		return nil, false, newError(CodeSessionRevoked, nil)
	case !now.Before(sess.AbsoluteExpiresAt):
		return nil, false, newError(CodeSessionExpired, nil)
	case sess.Generation > rc.Generation:
		if s.policy.Rotation && sess.Generation == rc.Generation+1 && now.Before(sess.RefreshExpiresAt) {
			if s.inReuseInterval(ctx, sess, now) {
				return s.reissue(ctx, sess, now, m, extra)
			}
			if s.undelivered.take(sess.ID, rc.Generation, sess.LastRefreshedAt) {
				// The rotation this token's own earlier attempt made (or may
				// have made) and never delivered.
				g, _, err := s.reissue(ctx, sess, now, m, extra)
				if err != nil {
					s.undelivered.add(sess.ID, rc.Generation, sess.LastRefreshedAt)
				}
				return g, false, err
			}
		}
		if _, err := s.revoke(ctx, store.RevokeParams{SessionID: sess.ID, Reason: string(CodeRefreshReused), Now: now}, sess.UserID); err != nil {
			return nil, false, err
		}
		if s.observer != nil {
			s.observer.ReuseDetected()
		}
		s.log.WarnContext(ctx, "audit", "event", "refresh.reuse_detected", "user_id", sess.UserID, "session_id", sess.ID,
			"presented_generation", rc.Generation, "current_generation", sess.Generation, "ip", m.IP)
		return nil, false, newError(CodeRefreshReused, nil)
	case !now.Before(sess.RefreshExpiresAt):
		return nil, false, newError(CodeRefreshExpired, nil)
	}
	if _, err := s.checkUser(ctx, sess.ID, sess.UserID, now); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}

// reissue answers the immediately preceding refresh token with the
// session's current generation (nothing is written).
func (s *Service) reissue(ctx context.Context, sess Session, now time.Time, m Meta, extra map[string]any) (*Grant, bool, error) {
	if _, err := s.checkUser(ctx, sess.ID, sess.UserID, now); err != nil {
		return nil, false, err
	}
	g, err := s.grant(sess, now, sess.Generation, extra)
	if err != nil {
		return nil, false, err
	}
	g.Reissued = true
	s.log.InfoContext(ctx, "audit", "event", "refresh.reissued", "user_id", sess.UserID, "session_id", sess.ID, "ip", m.IP)
	return g, false, nil
}

// MaxClockSkew is how far apart the clocks of the instances serving one
// database may be (docs/security.md, "Clocks"). A rotation stored by an
// instance whose clock is ahead by up to this much still counts as just
// made for the reuse interval; a stored time further ahead of the clock is
// a clock fault, and is logged.
const MaxClockSkew = 5 * time.Second

// inReuseInterval reports whether the session's last rotation is recent
// enough for the immediately preceding token to be answered: it happened
// less than ReuseInterval ago, and not in the future (beyond the skew the
// instances may have). After the clock steps back, a rotation stored
// before the step is in the future; counting that as "just now" would keep
// the grace open, and reuse detection off, for as long as the step.
func (s *Service) inReuseInterval(ctx context.Context, sess Session, now time.Time) bool {
	elapsed := now.Sub(sess.LastRefreshedAt)
	if elapsed < -MaxClockSkew {
		s.clockBehind(ctx, sess.LastRefreshedAt, now)
		return false
	}
	return elapsed < s.policy.ReuseInterval
}

// clockBehind warns, at most once every clockWarnEvery, that a time the
// store holds is ahead of this instance's clock by more than MaxClockSkew:
// the clock stepped back, or instances disagree. Tokens stay valid (they
// are judged by exp and generation), but the reuse interval is refused
// until the clock catches up.
func (s *Service) clockBehind(ctx context.Context, stored, now time.Time) {
	n := now.UnixNano()
	if last := s.lastClockWarn.Load(); last != 0 && n-last < int64(clockWarnEvery) && n >= last {
		return
	}
	s.lastClockWarn.Store(n)
	s.log.WarnContext(ctx, "clock: a time stored in the database is ahead of this instance's clock; "+
		"check NTP on every instance (they must agree within a few seconds)",
		"stored", stored.Format(time.RFC3339Nano), "now", now.Format(time.RFC3339Nano), "ahead", stored.Sub(now).String())
}

// clockWarnEvery spaces the clock warnings: after a step, every superseded
// token presented would log one.
const clockWarnEvery = time.Minute

// checkUser requires the user to exist and be active, and returns it;
// otherwise it revokes the session and says why.
func (s *Service) checkUser(ctx context.Context, sessionID, userID string, now time.Time) (User, error) {
	u, err := s.users.UserByID(ctx, userID)
	code := Code("")
	switch {
	case errors.Is(err, store.ErrNotFound):
		code = CodeUserNotFound
	case err != nil:
		return User{}, s.internal(err)
	case u.Status != UserActive:
		code = CodeUserInactive
	default:
		return u, nil
	}
	if _, err := s.revoke(ctx, store.RevokeParams{SessionID: sessionID, Reason: string(code), Now: now}, userID); err != nil {
		return User{}, err
	}
	return User{}, newError(code, nil)
}

// RenewAccess re-issues an access token for the session of a still-valid
// access token (bearer renewal, POST /token/refresh). The session must be
// live, still at the token's generation (CodeAccessSuperseded once a refresh
// has rotated it), and its user active; the new token never outlives the
// session's refresh expiry. A client that only renews keeps working; a
// copy of its access token stops renewing at its next refresh.
//
// The caller is authenticated first: an invalid token is CodeInvalidToken,
// and only an authenticated caller learns that renewal is switched off
// (CodeNotImplemented, HTTP 501).
func (s *Service) RenewAccess(ctx context.Context, accessToken string) (*Grant, error) {
	p, err := s.Authenticate(ctx, accessToken)
	if err != nil {
		return nil, err
	}
	return s.RenewAccessFor(ctx, p)
}

// RenewAccessFor is RenewAccess for a caller already authenticated: p is
// what Authenticate returned for its access token (a handler that has
// checked the token, and its DPoP proof, does not verify it twice).
func (s *Service) RenewAccessFor(ctx context.Context, p Principal) (*Grant, error) {
	if !s.policy.AccessRenewal {
		return nil, newError(CodeNotImplemented, nil)
	}
	if s.renew != nil {
		if err := s.renew(ctx, p); err != nil {
			return nil, err
		}
	}
	now := s.now().UTC()
	sess, err := s.liveSession(ctx, p.SessionID, now)
	if err != nil {
		return nil, err
	}
	if p.Claims.Generation < sess.Generation && !ungenerated(p.Claims, sess) {
		// The session has rotated since this token was issued: whoever
		// holds it is not the client that holds the session's current
		// tokens (or is, and has newer ones). Without this a stolen access
		// token renews itself for as long as the legitimate client keeps
		// the session alive.
		return nil, newError(CodeAccessSuperseded, nil)
	}
	u, err := s.checkUser(ctx, sess.ID, sess.UserID, now)
	if err != nil {
		return nil, err
	}
	extra, err := s.extraClaims(withUserAtHand(ctx, u), sess.UserID)
	if err != nil {
		return nil, err
	}
	// The new token carries the session's generation, which is the
	// presented token's: renewal never moves a token past a rotation.
	return s.grant(sess, now, 0, extra)
}

// ungenerated reports whether c is an access token minted before tokens
// carried gen (so it reads as 0) that was nonetheless issued by the
// session's current generation: its iat is not before the session's last
// rotation (in whole seconds, iat's precision). Such tokens, still live
// after an upgrade, renew as their generation's tokens would, instead of
// signing their clients out; they are all gone one access lifetime later.
func ungenerated(c token.AccessClaims, sess Session) bool {
	return c.Generation == 0 && !c.IssuedAt.Before(sess.LastRefreshedAt.Truncate(time.Second))
}

// liveSession returns a session that is live at now, or the reason it is not.
func (s *Service) liveSession(ctx context.Context, id string, now time.Time) (Session, error) {
	sess, err := s.store.Session(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return sess, newError(CodeSessionRevoked, nil)
	case err != nil:
		return sess, s.internal(err)
	case sess.Revoked():
		return sess, newError(CodeSessionRevoked, nil)
	case !now.Before(sess.AbsoluteExpiresAt):
		return sess, newError(CodeSessionExpired, nil)
	case !now.Before(sess.RefreshExpiresAt):
		return sess, newError(CodeRefreshExpired, nil)
	}
	return sess, nil
}

// Authenticate verifies an access token (signature, kind, iss, aud, exp with
// leeway) without reading the session: access tokens stay valid until they
// expire, which is what makes them cheap (and why they are short-lived).
// Introspect and CheckSession check the session too. (Options.VerifyAccess
// may read the signing keys, for a key id not loaded yet.)
func (s *Service) Authenticate(ctx context.Context, accessToken string) (Principal, error) {
	c, err := s.verify(ctx, accessToken)
	if errors.Is(err, token.ErrKeysUnavailable) {
		return Principal{}, s.internal(err) // the token cannot be judged now: 503, not 401
	}
	if err != nil {
		msg := messages[CodeInvalidToken]
		if errors.Is(err, token.ErrWrongKind) {
			msg = "a refresh token cannot be used as an access token"
		} else if errors.Is(err, token.ErrExpired) {
			msg = "the access token has expired"
		}
		return Principal{}, fail(CodeInvalidToken, msg, err)
	}
	return Principal{UserID: c.Subject, SessionID: c.SessionID, Claims: c}, nil
}
