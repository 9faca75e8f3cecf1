package auth

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

// Scope says which sessions a sign-out ends.
type Scope string

const (
	ScopeLocal  Scope = "local"  // the caller's session
	ScopeOthers Scope = "others" // every other session of the user
	ScopeGlobal Scope = "global" // every session of the user
)

// ParseScope accepts "", local, others and global ("" is local).
func ParseScope(s string) (Scope, error) {
	switch Scope(s) {
	case "", ScopeLocal:
		return ScopeLocal, nil
	case ScopeOthers, ScopeGlobal:
		return Scope(s), nil
	}
	return "", fail(CodeInvalidRequest, `scope must be "local", "others" or "global"`, nil)
}

// revoke revokes the sessions p selects and records the audit event.
// userID names the sessions' user for the event when p selects by session
// ("" when unknown); the client IP comes from the context (WithClientIP).
// The store records a security event per session revoked in the same
// transaction (store.Feed), with the txn the audit event names.
func (s *Service) revoke(ctx context.Context, p store.RevokeParams, userID string) (int, error) {
	if p.Txn == "" {
		p.Txn = newID()
	}
	n, err := s.store.RevokeSessions(ctx, p)
	if err != nil {
		return 0, s.internal(err)
	}
	if p.UserID != "" {
		userID = p.UserID
	}
	if n > 0 {
		s.log.InfoContext(ctx, "audit", "event", "session.revoked", "reason", p.Reason, "session_id", p.SessionID,
			"user_id", userID, "count", n, "txn", p.Txn, "ip", clientIP(ctx))
	}
	return n, nil
}

// callerLive requires the caller's own session to be live. Access tokens
// stay valid until they expire wherever they are verified without the
// database, but the routes that manage sessions read it anyway: an
// access token whose session was revoked (signed out, or killed by reuse
// detection because its refresh token was stolen) must not list the user's
// other sessions or end the one the user starts by signing in again
// (OWASP ASVS V3.3.1; RFC 9700 §4.14.2).
func (s *Service) callerLive(ctx context.Context, p Principal) error {
	_, err := s.liveSession(ctx, p.SessionID, s.now().UTC())
	if ErrorCode(err) == CodeRefreshExpired {
		return newError(CodeSessionExpired, nil)
	}
	return err
}

// SignOut revokes the sessions named by scope. Access tokens already issued
// stay valid until they expire; refreshes fail at once. Signing out the
// caller's own session is idempotent; ending other sessions needs the
// caller's session to be live.
func (s *Service) SignOut(ctx context.Context, p Principal, scope Scope) error {
	now := s.now().UTC()
	var rp store.RevokeParams
	switch scope {
	case ScopeLocal, "":
		rp = store.RevokeParams{SessionID: p.SessionID, Reason: "signed_out", Now: now}
	case ScopeOthers:
		rp = store.RevokeParams{UserID: p.UserID, ExceptSessionID: p.SessionID, Reason: "signed_out_elsewhere", Now: now}
	case ScopeGlobal:
		rp = store.RevokeParams{UserID: p.UserID, Reason: "signed_out_everywhere", Now: now}
	default:
		return fail(CodeInvalidRequest, `scope must be "local", "others" or "global"`, nil)
	}
	if rp.UserID != "" {
		if err := s.callerLive(ctx, p); err != nil {
			return err
		}
	}
	n, err := s.revoke(ctx, rp, p.UserID)
	if err != nil {
		return err
	}
	if scope == "" {
		scope = ScopeLocal
	}
	s.log.InfoContext(ctx, "audit", "event", "signout", "scope", string(scope), "user_id", p.UserID, "session_id", p.SessionID,
		"sessions_revoked", n, "ip", clientIP(ctx))
	return nil
}

// SessionInfo is a live session as shown to its user.
type SessionInfo struct {
	Session
	Current bool
}

// ListSessions returns the caller's live sessions, the current one marked.
// The caller's own session must be live.
func (s *Service) ListSessions(ctx context.Context, p Principal) ([]SessionInfo, error) {
	if err := s.callerLive(ctx, p); err != nil {
		return nil, err
	}
	ss, err := s.store.ListSessions(ctx, p.UserID, s.now().UTC())
	if err != nil {
		return nil, s.internal(err)
	}
	out := make([]SessionInfo, len(ss))
	for i, x := range ss {
		out[i] = SessionInfo{Session: x, Current: x.ID == p.SessionID}
	}
	return out, nil
}

// RevokeSession revokes one of the caller's sessions. Another user's session
// is reported as CodeNotFound, exactly like an unknown one. The caller's own
// session must be live.
func (s *Service) RevokeSession(ctx context.Context, p Principal, id string) error {
	if err := s.callerLive(ctx, p); err != nil {
		return err
	}
	sess, err := s.store.Session(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sess.UserID != p.UserID) {
		return fail(CodeNotFound, "no such session", nil)
	}
	if err != nil {
		return s.internal(err)
	}
	_, err = s.revoke(ctx, store.RevokeParams{SessionID: id, Reason: "revoked_by_user", Now: s.now().UTC()}, p.UserID)
	return err
}

// AdminRevokeSession revokes any session (latchkey session revoke). It
// returns CodeNotFound for an unknown id.
func (s *Service) AdminRevokeSession(ctx context.Context, id string) error {
	sess, err := s.store.Session(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fail(CodeNotFound, "no such session", nil)
	} else if err != nil {
		return s.internal(err)
	}
	_, err = s.revoke(ctx, store.RevokeParams{SessionID: id, Reason: "revoked_by_admin", Now: s.now().UTC()}, sess.UserID)
	return err
}

// AdminListSessions lists live sessions of one user (by email) or of all
// users (email "").
func (s *Service) AdminListSessions(ctx context.Context, email string) ([]Session, error) {
	userID := ""
	if email != "" {
		u, err := s.UserByEmail(ctx, email)
		if err != nil {
			return nil, err
		}
		userID = u.ID
	}
	ss, err := s.store.ListSessions(ctx, userID, s.now().UTC())
	if err != nil {
		return nil, s.internal(err)
	}
	return ss, nil
}

// RevokeToken implements RFC 7009: revoking a refresh token revokes its
// session (§2.1: "the authorization server SHOULD also invalidate ... the
// authorization grant"), and so does revoking an access token, so its
// introspection answers inactive at once. Unknown, invalid or expired tokens
// are not an error (§2.2). hint is only a hint.
//
// clientID is the client the request names. A token issued to a client (its
// session was started with a client_id) is revoked only for that client:
// another client, or none, gets CodeClientMismatch and nothing changes
// (§2.1: the server "verifies whether the token was issued to the client
// making the revocation request").
//
// A token bound to a DPoP key is revoked only with a valid proof by that key
// in m (as its refresh would be): the token alone is worthless, so whoever
// holds it without the key must not be able to end the session either.
// Without one it is CodeInvalidDPoPProof and nothing changes.
func (s *Service) RevokeToken(ctx context.Context, tok, hint, clientID string, m Meta) error {
	sid, uid, bound, jkt := "", "", "", ""
	var keysErr error // the access token could not be judged: keys unavailable
	tryRefresh := func() bool {
		c, err := s.tokens.VerifyRefresh(tok)
		if err == nil || errors.Is(err, token.ErrExpired) {
			sid, uid, bound, jkt = c.SessionID, c.Subject, c.ClientID, c.JKT
			return true
		}
		return false
	}
	tryAccess := func() bool {
		c, err := s.verify(ctx, tok)
		if err == nil || errors.Is(err, token.ErrExpired) {
			sid, uid, bound, jkt = c.SessionID, c.Subject, c.ClientID, c.JKT
			return true
		}
		if errors.Is(err, token.ErrKeysUnavailable) {
			keysErr = err
		}
		return false
	}
	if hint == "access_token" {
		_ = tryAccess() || tryRefresh()
	} else {
		_ = tryRefresh() || tryAccess()
	}
	if sid == "" {
		// Saying "revoked" for a token that may be valid and was not
		// revoked would be a lie the caller relies on: retry later.
		return s.internal(keysErr)
	}
	if bound == DefaultClientID {
		// An access token of a session without a client carries the
		// default, and so does one of a client that calls itself that:
		// the session says which it is.
		sess, err := s.store.Session(ctx, sid)
		if errors.Is(err, store.ErrNotFound) {
			return nil // purged: nothing to revoke
		}
		if err != nil {
			return s.internal(err)
		}
		bound = sess.ClientID
	}
	if bound != "" && clientID != bound {
		return newError(CodeClientMismatch, nil)
	}
	if e := bindingError(jkt, m); e != nil {
		return s.proofRefused(ctx, "revoke.dpop_refused", e, uid, sid, m)
	}
	if jkt != "" {
		if err := s.useProof(ctx, "revoke.dpop_refused", uid, sid, m); err != nil {
			return err
		}
	}
	_, err := s.revoke(ctx, store.RevokeParams{SessionID: sid, Reason: "token_revoked", Now: s.now().UTC()}, uid)
	return err
}

// Introspection is RFC 7662's answer.
type Introspection struct {
	Active    bool
	TokenUse  string // "access" or "refresh"
	Subject   string
	SessionID string
	ClientID  string
	IssuedAt  time.Time
	ExpiresAt time.Time
	Issuer    string
	Audience  []string
	ID        string
	// JKT is the thumbprint of the DPoP key the token is bound to (the
	// cnf.jkt of RFC 9449 §6.2), "" for a bearer token.
	JKT string
}

// Introspect reports whether a token is active now (RFC 7662 §2.2): valid,
// unexpired, its session not revoked or expired, its user active, and for a
// refresh token, still the session's current generation.
//
// refresh says whether the caller may learn about refresh tokens: only one
// the server has authenticated (RFC 7662 §2.1 lets the server require it).
// For anyone else a refresh token is inactive, so a thief cannot check
// whether a stolen refresh token is still current without spending it,
// which reuse detection would notice. The OAuth dialect has no authenticated
// callers (public clients only) and passes false.
func (s *Service) Introspect(ctx context.Context, tok string, refresh bool) (Introspection, error) {
	now := s.now().UTC()
	var in Introspection
	if c, err := s.tokens.VerifyRefresh(tok); err == nil {
		if !refresh {
			return Introspection{}, nil
		}
		in = Introspection{TokenUse: "refresh", Subject: c.Subject, SessionID: c.SessionID, ClientID: c.ClientID,
			IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt, Issuer: c.Issuer, ID: c.ID, JKT: c.JKT}
		sess, err := s.liveSession(ctx, c.SessionID, now)
		if err != nil {
			return Introspection{}, inactiveUnlessOutage(err)
		}
		if s.policy.Rotation && sess.Generation != c.Generation {
			return Introspection{}, nil
		}
	} else if c, err := s.verify(ctx, tok); err == nil {
		in = Introspection{TokenUse: "access", Subject: c.Subject, SessionID: c.SessionID, IssuedAt: c.IssuedAt,
			ExpiresAt: c.ExpiresAt, Issuer: c.Issuer, Audience: c.Audience, ID: c.ID, JKT: c.JKT}
		sess, err := s.store.Session(ctx, c.SessionID)
		if err != nil || sess.Revoked() || !now.Before(sess.AbsoluteExpiresAt) {
			return Introspection{}, inactiveUnlessOutage(s.internalOrNil(err))
		}
		in.ClientID = sess.ClientID
	} else if errors.Is(err, token.ErrKeysUnavailable) {
		return Introspection{}, s.internal(err) // cannot be judged now: not "inactive"
	} else {
		return Introspection{}, nil
	}
	u, err := s.users.UserByID(ctx, in.Subject)
	if err != nil || u.Status != UserActive {
		return Introspection{}, inactiveUnlessOutage(s.internalOrNil(err))
	}
	in.Active = true
	return in, nil
}

func (s *Service) internalOrNil(err error) error {
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return s.internal(err)
}

// inactiveUnlessOutage turns "not live" reasons into an inactive answer and
// keeps real failures (database down) as errors.
func inactiveUnlessOutage(err error) error {
	var e *Error
	if err == nil || (errors.As(err, &e) && e.Code != CodeUnavailable) {
		return nil
	}
	return err
}

// Purge deletes sessions revoked or expired before now, and signing keys
// retired more than keyRetention ago, when every token they signed has
// expired (latchkey purge; keyRetention is the time a retired key stays
// published). It is safe to run while instances serve: it only deletes rows
// no refresh and no live access token can use.
func (s *Service) Purge(ctx context.Context, keyRetention time.Duration) (int64, error) {
	now := s.now().UTC()
	// A retired key stays at least as long as the tokens it signed live.
	keyRetention = max(keyRetention, s.policy.AccessTTL)
	n, err := s.store.Purge(ctx, now, now.Add(-keyRetention))
	if err != nil {
		return 0, s.internal(err)
	}
	s.log.InfoContext(ctx, "audit", "event", "purge", "sessions_deleted", n)
	return n, nil
}

// CheckSession reports whether the principal's session is still live and
// its user active (an error with the reason otherwise). Middleware in the
// same process as the store uses it so that sign-out and deactivation take
// effect at once on the host's routes, at the price of one indexed read (two
// with an application's own Users) per request.
func (s *Service) CheckSession(ctx context.Context, p Principal) error {
	now := s.now().UTC()
	sess, err := s.liveSession(ctx, p.SessionID, now)
	if err != nil {
		return err
	}
	if sess.UserID != p.UserID {
		return newError(CodeInvalidToken, nil)
	}
	if !s.builtin {
		u, err := s.users.UserByID(ctx, p.UserID)
		if err != nil || u.Status != UserActive {
			if err := s.internalOrNil(err); err != nil {
				return err
			}
			return newError(CodeUserInactive, nil)
		}
	}
	return nil
}
