package token

import (
	"errors"
	"time"
)

// Verification errors. Every error returned by Verify* wraps exactly one of
// these, so callers decide with errors.Is.
var (
	// ErrMalformed: not a compact JWS, bad encoding, bad JSON, oversized.
	ErrMalformed = errors.New("token: malformed")
	// ErrSignature: unknown key, disallowed algorithm or bad signature.
	ErrSignature = errors.New("token: invalid signature")
	// ErrWrongKind: a valid token of the other kind (refresh where access is
	// expected or the reverse).
	ErrWrongKind = errors.New("token: wrong token kind")
	// ErrClaims: issuer, audience, iat/nbf in the future, missing claims, or
	// a member name that folds onto a registered claim without being it (or
	// a registered claim twice).
	ErrClaims = errors.New("token: invalid claims")
	// ErrExpired: signature and claims are valid but exp has passed. The
	// claims are returned alongside this error (revocation uses them).
	ErrExpired = errors.New("token: expired")
)

// MaxTokenBytes bounds the size of a token we agree to parse.
const MaxTokenBytes = 8 << 10

const (
	useAccess  = "access"
	useRefresh = "refresh"
	typAccess  = "at+jwt"
	typRefresh = "rt+jwt"
)

// AccessClaims are the claims of an access token.
type AccessClaims struct {
	Issuer    string
	Subject   string // user id
	Audience  []string
	IssuedAt  time.Time
	ExpiresAt time.Time
	ID        string // jti, unique per issue
	SessionID string // sid
	// Generation (gen) is the session's rotation generation when the token
	// was issued; renewal refuses a token whose session has rotated past it.
	// 0 in tokens minted before the claim existed.
	Generation int64
	// ClientID (client_id, RFC 9068 §2.2) is the client the session was
	// issued to.
	ClientID string
	// JKT is the cnf.jkt claim (RFC 9449 §6.1): the RFC 7638 thumbprint of
	// the DPoP key the token is bound to; empty for a bearer token. A bound
	// token is accepted only with a proof by that key.
	JKT string
	// Extra claims added by the application (Feathers' getPayload); they
	// never override the registered claims above, whatever their spelling:
	// a name that is, or folds onto, a registered one is dropped.
	Extra map[string]any
}

// RefreshClaims are the claims of a refresh token. Generation ties the token
// to one step of its session's rotation chain.
type RefreshClaims struct {
	Issuer     string
	Subject    string
	SessionID  string
	Generation int64
	ClientID   string // the OAuth client the session was issued to, if any
	// JKT is the thumbprint of the DPoP key the session is bound to (cnf.jkt);
	// empty for a bearer session. A refresh needs a proof by that key.
	JKT       string
	IssuedAt  time.Time
	ExpiresAt time.Time
	ID        string
}
