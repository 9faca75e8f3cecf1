package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

// Policy holds the lifetimes and switches of sessions and tokens; each
// field names the setting it comes from.
type Policy struct {
	AccessTTL          time.Duration // JWT_EXPIRES_IN
	RefreshTTL         time.Duration // JWT_REFRESH_EXPIRES_IN, sliding
	SessionMaxLifetime time.Duration // SESSION_MAX_LIFETIME, absolute
	Rotation           bool          // REFRESH_TOKEN_ROTATION
	ReuseInterval      time.Duration // REFRESH_TOKEN_REUSE_INTERVAL
	AccessRenewal      bool          // ACCESS_TOKEN_RENEWAL
	MaxSessionsPerUser int           // MAX_SESSIONS_PER_USER, 0 = unlimited
	// PasswordResetTTL is how long a password-reset link works
	// (PASSWORD_RESET_EXPIRES_IN); EmailVerificationTTL how long an e-mail
	// verification link works (EMAIL_VERIFICATION_EXPIRES_IN). Zero means
	// the default.
	PasswordResetTTL     time.Duration
	EmailVerificationTTL time.Duration
	// RequireEmailVerification refuses the sign-in of a user who signed up
	// while it was on until the address is verified
	// (REQUIRE_EMAIL_VERIFICATION); it needs Options.Mailer.
	RequireEmailVerification bool
}

// Defaults of the e-mail links' lifetimes.
const (
	DefaultPasswordResetTTL     = time.Hour
	DefaultEmailVerificationTTL = 24 * time.Hour
)

// DefaultPolicy returns the settings' defaults (a new value each time).
func DefaultPolicy() Policy {
	return Policy{
		AccessTTL: 15 * time.Minute, RefreshTTL: 24 * time.Hour, SessionMaxLifetime: 720 * time.Hour,
		Rotation: true, ReuseInterval: 10 * time.Second, AccessRenewal: true, MaxSessionsPerUser: 100,
		PasswordResetTTL: DefaultPasswordResetTTL, EmailVerificationTTL: DefaultEmailVerificationTTL,
	}
}

// Validate reports the first field that makes p unusable: a lifetime that is
// not positive (a Policy built field by field that forgot one would sign
// tokens already expired), a negative reuse interval or session cap. It
// cannot tell Rotation off from Rotation forgotten: build a Policy from
// DefaultPolicy() and change what differs.
func (p Policy) Validate() error {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"AccessTTL", p.AccessTTL}, {"RefreshTTL", p.RefreshTTL}, {"SessionMaxLifetime", p.SessionMaxLifetime}} {
		if f.d <= 0 {
			return fmt.Errorf("Policy.%s must be positive (it is %v)", f.name, f.d)
		}
	}
	if p.ReuseInterval < 0 {
		return fmt.Errorf("Policy.ReuseInterval must not be negative (it is %v)", p.ReuseInterval)
	}
	if p.MaxSessionsPerUser < 0 {
		return fmt.Errorf("Policy.MaxSessionsPerUser must not be negative (it is %d; 0 is unlimited)", p.MaxSessionsPerUser)
	}
	if p.PasswordResetTTL < 0 || p.EmailVerificationTTL < 0 {
		return fmt.Errorf("Policy.PasswordResetTTL and EmailVerificationTTL must not be negative (0 is the default)")
	}
	return nil
}

// Throttle is the rate-limit seam: the service asks it before checking a
// password or rotating a token, and tells it about failed sign-ins. Returning
// an error (normally an *Error with CodeRateLimited and RetryAfter) refuses;
// the *Error's cause, if any, names the limit in the audit event.
//
// SignInFailed gets a context that the request's end does not cancel (it
// keeps the request's values): net/http cancels a request's context as soon
// as its client half-closes the connection, yet still writes the answer to
// it, so a count made under that context could fail while the client reads
// the outcome of its guess. An implementation that makes network calls
// bounds them itself.
type Throttle interface {
	AllowSignIn(ctx context.Context, email, ip string) error
	SignInFailed(ctx context.Context, email, ip string)
	AllowRefresh(ctx context.Context, ip string) error
}

// SignUpThrottle is the part of a Throttle that limits sign-ups; a Throttle
// that also implements it is asked before each sign-up's password is hashed
// (ip is the client's address from the context, "" when unknown, as for
// the CLI). Returning an error refuses, as for Throttle. Without it,
// sign-ups are limited only by the hashing capacity they may use (a share
// of it: sign-ins keep the rest, see password.Hasher.HashSignUp).
type SignUpThrottle interface {
	AllowSignUp(ctx context.Context, ip string) error
}

// ClaimsFunc returns extra access-token claims for a user (Feathers'
// getPayload). u is the user's record when the call has just read it (a
// sign-in; a renewal; a refresh with the application's own Users), so the
// hook need not read it again (its PasswordHash is left empty); nil otherwise (a refresh with the built-in
// users reads no user row): look the user up by userID then. Registered
// claims are never overridden.
type ClaimsFunc func(ctx context.Context, userID string, u *User) (map[string]any, error)

// Options wire a Service.
type Options struct {
	Store  store.Store
	Tokens *token.Issuer
	Hasher *password.Hasher
	Policy Policy
	// Now is the clock; time.Now when nil. Tests inject one and never sleep.
	Now      func() time.Time
	Logger   *slog.Logger // audit events; slog.Default() when nil
	Throttle Throttle     // optional
	Claims   ClaimsFunc   // optional
	// Users are the accounts; nil means the built-in users of Store
	// (StoreUsers). With an application's own Users, SignUp and user
	// activation are the application's business and answer
	// CodeNotImplemented here.
	Users Users
	// Renew authorises bearer renewal (POST /token/refresh, an optional
	// hook): it is called for an authenticated caller before a new access
	// token is issued, and may refuse with an error. With Policy.AccessRenewal
	// off, renewal answers CodeNotImplemented whatever Renew is.
	Renew func(ctx context.Context, p Principal) error
	// Observer receives outcomes for metrics (optional).
	Observer Observer
	// Mailer composes the e-mails of password reset and e-mail
	// verification (package mail). Nil: those flows answer
	// CodeNotImplemented. They also need a Store that implements
	// store.Credentials (both built-in backends do).
	Mailer Mailer
	// VerifyAccess verifies an access token for Authenticate, Introspect,
	// RevokeToken and RenewAccess; nil means Tokens.VerifyAccess. latchkey.New
	// sets one that reloads the signing keys when a token names a key id this
	// instance has not loaded (another instance rotated), at a bounded rate.
	// An error wrapping token.ErrKeysUnavailable is an outage
	// (CodeUnavailable), not an invalid token.
	VerifyAccess func(ctx context.Context, tok string) (token.AccessClaims, error)
}

// Service is the domain. Create it with New; it is safe for concurrent use.
type Service struct {
	store    store.Store
	tokens   *token.Issuer
	hasher   *password.Hasher
	policy   Policy
	now      func() time.Time
	log      *slog.Logger
	throttle Throttle
	claims   ClaimsFunc
	users    Users
	builtin  bool // users are the Store's own: the rotation checks them in the same statement
	renew    func(ctx context.Context, p Principal) error
	observer Observer
	mailer   Mailer
	creds    store.Credentials                                                 // nil when the store has no password lifecycle
	verify   func(ctx context.Context, tok string) (token.AccessClaims, error) // Options.VerifyAccess

	undelivered   undelivered  // rotations that may have committed unannounced (undelivered.go)
	lastClockWarn atomic.Int64 // Unix nanoseconds of the last clock warning (refresh.go)
	// verifyTime is the moving average of Users.VerifyPassword's duration
	// (nanoseconds; failed checks only raise it), for Users without
	// VerifyDummy (users.go).
	verifyTime atomic.Int64
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{store: o.Store, tokens: o.Tokens, hasher: o.Hasher, policy: o.Policy, now: o.Now,
		log: o.Logger, throttle: o.Throttle, claims: o.Claims, users: o.Users, renew: o.Renew, observer: o.Observer, mailer: o.Mailer}
	s.creds, _ = o.Store.(store.Credentials)
	if s.policy.PasswordResetTTL == 0 {
		s.policy.PasswordResetTTL = DefaultPasswordResetTTL
	}
	if s.policy.EmailVerificationTTL == 0 {
		s.policy.EmailVerificationTTL = DefaultEmailVerificationTTL
	}
	if s.users == nil {
		s.users, s.builtin = StoreUsers(o.Store, o.Hasher), true
	}
	s.verify = o.VerifyAccess
	if s.verify == nil {
		s.verify = func(_ context.Context, tok string) (token.AccessClaims, error) { return o.Tokens.VerifyAccess(tok) }
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// Policy returns the service's lifetimes and switches.
func (s *Service) Policy() Policy { return s.policy }

// Tokens returns the issuer (for JWKS and metadata).
func (s *Service) Tokens() *token.Issuer { return s.tokens }

// Now returns the service's clock reading.
func (s *Service) Now() time.Time { return s.now() }

// Meta describes the client making a request; it is recorded on new sessions
// and in audit events.
type Meta struct {
	ClientID  string
	UserAgent string
	IP        string
	// Proof is the request's DPoP proof (RFC 9449) once the HTTP layer has
	// checked it (every check of §4.3 but the replay cache, which the
	// domain consults, in the same transaction as a refresh); nil when the
	// request carried none. ProofError is why a proof it carried was
	// refused (an error carrying a reason, see ProofRefused).
	Proof      *Proof
	ProofError error
	// BoundOnly says the proof counts only for a session bound to a key
	// before (the policy binds no new session): a sign-in ignores it, and
	// so does the refresh or revocation of a bearer session.
	BoundOnly bool
}

// Proof is a checked DPoP proof.
type Proof struct {
	// JKT is the RFC 7638 thumbprint of the proof's key.
	JKT string
	// Key identifies the proof in the replay cache (a hash of JKT and the
	// proof's jti); Expires is when the proof stops being accepted.
	Key     []byte
	Expires time.Time
}

// Grant is the result of a sign-in or a refresh.
type Grant struct {
	AccessToken      string
	AccessExpiresAt  time.Time
	RefreshToken     string // empty for an access-only renewal
	RefreshExpiresAt time.Time
	Session          Session
	// Reissued is true when a refresh inside the reuse interval was answered
	// with the session's current generation instead of a rotation.
	Reissued bool
	// User is set by SignIn (a refresh does not read the user row).
	User User
}

// TokenType is the token_type of the grant's tokens (RFC 9449 §5): "DPoP"
// when the session is bound to a key, else "Bearer".
func (g *Grant) TokenType() string {
	if g.Session.Bound() {
		return "DPoP"
	}
	return "Bearer"
}

// Principal is the authenticated caller of an access-token request.
type Principal struct {
	UserID    string
	SessionID string
	Claims    token.AccessClaims
}

// extraClaims returns the claims hook's claims for userID (nil without a
// hook), handing it the user record ctx carries (withUserAtHand), if any.
// It runs before anything is committed (see Refresh): a hook that fails
// then costs the client a retry, never its session.
func (s *Service) extraClaims(ctx context.Context, userID string) (map[string]any, error) {
	if s.claims == nil {
		return nil, nil
	}
	extra, err := s.claims(ctx, userID, userAtHand(ctx, userID))
	if err != nil {
		return nil, s.internal(err)
	}
	return extra, nil
}

// DefaultClientID is the client_id of access tokens whose session names no
// client (a sign-in through the canonical, cookie or Feathers front doors,
// or an OAuth request without client_id): RFC 9068 §2.2 requires the claim.
const DefaultClientID = "latchkey"

// mintAccess signs an access token for the session, carrying extra (the
// claims hook's, computed beforehand), that expires at the earlier of
// now+AccessTTL and notAfter (the session's refresh expiry: no access token
// outlives its session). It carries the session's generation (gen), which
// renewal compares with the session's, and its client. It only signs:
// nothing outside the process can make it fail.
func (s *Service) mintAccess(sess Session, now, notAfter time.Time, extra map[string]any) (string, time.Time, error) {
	exp := now.Add(s.policy.AccessTTL)
	if !notAfter.IsZero() && notAfter.Before(exp) {
		exp = notAfter
	}
	cid := sess.ClientID
	if cid == "" {
		cid = DefaultClientID
	}
	c := token.AccessClaims{Subject: sess.UserID, SessionID: sess.ID, IssuedAt: now, ExpiresAt: exp,
		Generation: sess.Generation, ClientID: cid, JKT: sess.JKT, Extra: extra}
	tok, _, err := s.tokens.MintAccess(c)
	return tok, exp, err
}

// grant mints the access token (with extra claims) and, with a non-zero
// generation, a refresh token for sess. It signs and nothing else, so it
// may follow a committed rotation: no database, user backend or hook is
// asked anything.
func (s *Service) grant(sess Session, now time.Time, gen int64, extra map[string]any) (*Grant, error) {
	g := &Grant{Session: sess, RefreshExpiresAt: sess.RefreshExpiresAt}
	var err error
	if g.AccessToken, g.AccessExpiresAt, err = s.mintAccess(sess, now, sess.RefreshExpiresAt, extra); err != nil {
		return nil, s.internal(err)
	}
	if gen > 0 {
		g.RefreshToken, _, err = s.tokens.MintRefresh(token.RefreshClaims{Subject: sess.UserID, SessionID: sess.ID,
			Generation: gen, ClientID: sess.ClientID, JKT: sess.JKT, IssuedAt: now, ExpiresAt: sess.RefreshExpiresAt})
		if err != nil {
			return nil, s.internal(err)
		}
	}
	return g, nil
}

// internal classifies an unexpected failure: a database outage becomes
// CodeUnavailable (HTTP 503 with Retry-After); anything else stays a plain
// error (HTTP 500, cause logged, never shown).
func (s *Service) internal(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, token.ErrKeysUnavailable) {
		return &Error{Code: CodeUnavailable, Message: messages[CodeUnavailable], Err: err, RetryAfter: 2 * time.Second}
	}
	if errors.Is(err, password.ErrBusy) {
		return &Error{Code: CodeUnavailable, Message: "too many sign-ins in progress; retry shortly", Err: err, RetryAfter: time.Second}
	}
	return err
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }
