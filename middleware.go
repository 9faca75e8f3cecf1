package latchkey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

// ErrNoBearerToken is Authenticate's error for a request without a usable
// "Authorization: Bearer" or "Authorization: DPoP" header (none, two,
// another scheme, or a value that is not an RFC 6750 token): the caller is
// not signed in.
var ErrNoBearerToken = errors.New("latchkey: no bearer token")

// ErrKeysUnavailable is token.ErrKeysUnavailable: the verification keys
// cannot be had (the JWKS URL or the database does not answer), so no token
// can be judged now.
var ErrKeysUnavailable = token.ErrKeysUnavailable

// KeySource returns the access-token verification key for a kid. An unknown
// kid is an error wrapping token.ErrUnknownKey (or any error that does not
// wrap token.ErrKeysUnavailable); a key set that cannot be had right now is
// an error wrapping token.ErrKeysUnavailable.
type KeySource func(ctx context.Context, kid string) (token.PublicKey, error)

// AuthOptions configure an Authenticator.
type AuthOptions struct {
	Issuer   string // required iss (Options.Issuer of the Latchkey that signs)
	Audience string // required aud ("latchkey" when empty)
	Keys     KeySource
	Leeway   time.Duration    // AccessLeeway when zero
	Now      func() time.Time // time.Now when nil
	// CheckSession, when set, is called after the token verifies and may
	// refuse it (a revoked session). Handler.Authenticator sets it to the
	// domain's check; a service that only has the JWKS URL leaves it nil and
	// accepts tokens until they expire.
	CheckSession func(ctx context.Context, p auth.Principal) error
	// Revoked, when set, reports whether a session has been revoked; a
	// token of such a session is refused with 401 invalid_token
	// (error_reason session_revoked). Pass a ssf/receiver.Receiver's
	// Revoked: it learns of revocations from Latchkey within seconds, so a
	// service that only has the JWKS URL enforces them too, without a
	// database read per request.
	Revoked func(sessionID string) bool
	// Logger gets the cause of every 500 and 503 Middleware answers
	// (slog.Default when nil). Tokens are never logged.
	Logger *slog.Logger
	// DPoP configures the checks of DPoP-bound access tokens (RFC 9449 §7);
	// the zero value checks them against the request's own URL with a
	// replay cache in memory, on the clock Now.
	DPoP DPoPOptions
}

// Authenticator verifies Latchkey access tokens on the host's own routes:
// signature with the key set, expiry with a small leeway, issuer and
// audience; refresh tokens are refused. A token bound to a DPoP key (RFC
// 9449) is accepted only with a proof by that key (see DPoPOptions); bearer
// tokens need none. With CheckSession it also asks
// whether the token's session is still live (Handler.Authenticator does:
// one indexed read, two with the application's own Users); without it, as in
// a service that only knows the JWKS URL, it touches no database, and a token
// stays valid until it expires even if its session is revoked, unless Revoked
// is set (an SSF receiver, package ssf/receiver: within seconds).
type Authenticator struct {
	verify  func(ctx context.Context, tok string) (token.AccessClaims, error)
	check   func(ctx context.Context, p auth.Principal) error
	revoked func(sessionID string) bool
	log     *slog.Logger
	dpop    *dpopCheck
}

// NewAuthenticator returns an Authenticator over a key source (RemoteKeys,
// or the application's own).
func NewAuthenticator(o AuthOptions) *Authenticator {
	if o.Audience == "" {
		o.Audience = "latchkey"
	}
	if o.Leeway == 0 {
		o.Leeway = AccessLeeway
	}
	keys := o.Keys
	v := &token.Verifier{Issuer: o.Issuer, Audience: o.Audience, Leeway: o.Leeway, Now: o.Now,
		Key: func(ctx context.Context, kid string) (token.PublicKey, error) { return keys(ctx, kid) }}
	return &Authenticator{verify: v.VerifyAccess, check: o.CheckSession, revoked: o.Revoked, log: o.Logger,
		dpop: newDPoPCheck(o.DPoP, o.Now)}
}

// Authenticator returns an Authenticator over this handler's own keys, in
// memory (any algorithm, HS256 included), that also checks the session, so
// sign-out and deactivation refuse the host's routes at once. A token signed
// with a key this instance has not loaded yet (another instance rotated)
// makes it reload the keys from the store, at most once per
// UnknownKeyReloadInterval. DPoP proofs are checked as
// Options.MiddlewareDPoP says, with one replay cache for every
// Authenticator of h.
func (h *Handler) Authenticator() *Authenticator {
	return &Authenticator{verify: h.verifyAccess, check: h.Service.CheckSession, log: h.opts.Logger, dpop: h.resourceDPoP}
}

// UnknownKeyReloadInterval is the least time between two reloads of the
// signing keys caused by tokens naming a key id this instance lacks: a
// rotation on another instance is seen at once, and made-up key ids cost
// the database at most one read per interval.
const UnknownKeyReloadInterval = 10 * time.Second

// verifyAccess verifies with the issuer's keys, reloading them (at a
// bounded rate, one reload at a time) when the token names a key id they
// lack.
func (h *Handler) verifyAccess(ctx context.Context, tok string) (token.AccessClaims, error) {
	c, err := h.Tokens.VerifyAccess(tok)
	if !errors.Is(err, token.ErrUnknownKey) || h.opts.Keys != nil {
		return c, err
	}
	done := h.reload.start()
	if done == nil {
		if lerr := h.reload.lastErr(); lerr != nil {
			return c, fmt.Errorf("%w: reload signing keys: %w", token.ErrKeysUnavailable, lerr)
		}
		return c, err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return c, fmt.Errorf("%w: waiting for the signing keys: %w", token.ErrKeysUnavailable, ctx.Err())
	}
	if lerr := h.reload.lastErr(); lerr != nil {
		return c, fmt.Errorf("%w: reload signing keys: %w", token.ErrKeysUnavailable, lerr)
	}
	return h.Tokens.VerifyAccess(tok)
}

// Middleware is h.Authenticator().Middleware.
func (h *Handler) Middleware(next http.Handler) http.Handler {
	return h.Authenticator().Middleware(next)
}

type principalKey struct{}

// PrincipalFrom returns the principal Middleware put in the request context.
func PrincipalFrom(ctx context.Context) (auth.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(auth.Principal)
	return p, ok
}

// WithPrincipal returns ctx carrying p, as Middleware leaves it for the
// handler behind it: the way to test a protected handler without a real
// sign-in (PrincipalFrom returns p).
func WithPrincipal(ctx context.Context, p auth.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// Authenticate verifies the request's access token: "Authorization:
// Bearer", or for a token bound to a DPoP key (cnf.jkt, RFC 9449 §6)
// "Authorization: DPoP" with the request's proof (§7.1), which is then
// remembered in the replay cache. Its errors, told apart with errors.Is:
//   - ErrNoBearerToken: no token was sent (not signed in);
//   - ErrDPoPBoundAsBearer: a bound token came as Bearer (§7.2);
//     ErrNotDPoPBound: a bearer token came with the DPoP scheme;
//   - a *dpop.Error (errors.As; dpop.ErrUseNonce among them): the proof is
//     missing or refused, its Reason says why (key_mismatch: signed by
//     another key than the token's);
//   - an error wrapping dpop.ErrReplayCacheFull, or the failure of a shared
//     replay cache: the proof cannot be judged now;
//   - token.ErrExpired: the token has expired (refresh, then retry);
//   - token.ErrMalformed, token.ErrSignature (token.ErrUnknownKey among
//     them), token.ErrWrongKind (a refresh token), token.ErrClaims: not a
//     valid access token of this issuer;
//   - ErrKeysUnavailable: the keys to check it cannot be had now;
//   - from CheckSession, an *auth.Error: CodeSessionRevoked,
//     CodeSessionExpired, CodeRefreshExpired, CodeUserInactive,
//     CodeInvalidToken (the session is not the token's user's), or
//     CodeUnavailable (the database or the application's Users are
//     unavailable: store.ErrUnavailable);
//   - anything else is a failure of the application's Users or of the store
//     (a plain error).
func (a *Authenticator) Authenticate(r *http.Request) (auth.Principal, error) {
	tok, isDPoP, ok := httpapi.Authorization(r)
	if !ok {
		return auth.Principal{}, ErrNoBearerToken
	}
	c, err := a.verify(r.Context(), tok)
	if err != nil {
		return auth.Principal{}, err
	}
	switch bound := c.JKT != ""; {
	case bound && !isDPoP:
		return auth.Principal{}, ErrDPoPBoundAsBearer
	case !bound && isDPoP:
		return auth.Principal{}, ErrNotDPoPBound
	case bound:
		if err := a.dpop.check(r, tok, c.JKT); err != nil {
			return auth.Principal{}, err
		}
	}
	p := auth.Principal{UserID: c.Subject, SessionID: c.SessionID, Claims: c}
	if a.revoked != nil && a.revoked(c.SessionID) {
		return auth.Principal{}, &auth.Error{Code: auth.CodeSessionRevoked, Message: "the session has been revoked"}
	}
	if a.check != nil {
		if err := a.check(r.Context(), p); err != nil {
			return auth.Principal{}, err
		}
	}
	return p, nil
}

// Middleware lets requests with a valid access token through, with the
// principal in the context (PrincipalFrom). It refuses the others with a
// JSON body {"error": code, "message": text}:
//   - 401 invalid_token with WWW-Authenticate (RFC 6750 §3) when the token
//     is missing, invalid, expired, or its session or user is no longer
//     active (then with "error_reason": session_revoked, session_expired,
//     user_inactive, ...): the client should refresh or sign in again;
//   - 503 temporarily_unavailable with Retry-After when it cannot be judged
//     now (keys, database or the application's Users unavailable): the
//     client should retry, not sign out;
//   - 500 internal_error for anything else (an unexpected error of the
//     application's Users, say), with the cause logged, never shown.
//
// Every 401 challenges both schemes it takes: Bearer (RFC 6750 §3) and DPoP
// with the algorithms it accepts (RFC 9449 §7.1). A DPoP-bound token whose
// proof is refused gets 401 invalid_dpop_proof (error_reason says which
// check failed) and the DPoP challenge error="invalid_dpop_proof"; one sent
// as Bearer gets 401 invalid_token (error_reason dpop_bound). With nonces
// (DPoPOptions.Nonces) every answer carries the current one in DPoP-Nonce,
// and a proof without it gets 401 use_dpop_nonce (RFC 9449 §9).
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.dpop.proofs.SetNonce(w.Header())
		p, err := a.Authenticate(r)
		if err != nil {
			a.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// refuse writes Middleware's answer to an error of Authenticate.
func (a *Authenticator) refuse(w http.ResponseWriter, r *http.Request, err error) {
	log := a.log
	if log == nil {
		log = slog.Default()
	}
	var ae *auth.Error
	isAuth := errors.As(err, &ae)
	switch {
	case httpapi.ClientGone(r, err):
		// The client went away: nobody reads the answer, and nothing failed
		// here, whatever the cancellation was wrapped in on its way (an
		// application's Users report it inside store.ErrUnavailable, a wait
		// for the keys inside ErrKeysUnavailable). 499 is the customary
		// "client closed request".
		log.DebugContext(r.Context(), "access token not checked: the client went away", "err", err)
		w.WriteHeader(httpapi.StatusClientClosedRequest)
	case errors.Is(err, ErrNoBearerToken):
		// No credentials: a challenge without an error code (RFC 6750 §3.1).
		a.dpop.challenges(w.Header(), "", "")
		writeRefusal(w, http.StatusUnauthorized, "invalid_token", "a valid access token is required")
	case a.refuseDPoP(w, r, err):
	case isAuth && ae.Code == auth.CodeUnavailable, errors.Is(err, token.ErrKeysUnavailable),
		errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, errReplayUnavailable):
		retry := 2 * time.Second
		if isAuth && ae.RetryAfter > 0 {
			retry = ae.RetryAfter
		}
		log.WarnContext(r.Context(), "access token not checked: unavailable", "err", err)
		httpapi.WriteRetryAfter(w.Header(), retry)
		writeRefusal(w, http.StatusServiceUnavailable, string(auth.CodeUnavailable), "the service is temporarily unavailable; retry later")
	case isAuth && ae.Code == auth.CodeRateLimited:
		httpapi.WriteRetryAfter(w.Header(), max(ae.RetryAfter, time.Second))
		writeRefusal(w, http.StatusTooManyRequests, string(ae.Code), ae.Message)
	case isAuth:
		a.dpop.challenges(w.Header(), "invalid_token", "invalid_token")
		body := map[string]string{"error": "invalid_token", "message": ae.Message}
		if ae.Code != auth.CodeInvalidToken {
			body["error_reason"] = string(ae.Code) // session_revoked, session_expired, ...
		}
		_ = httpapi.WriteJSON(w, http.StatusUnauthorized, body)
	case isTokenError(err):
		msg := "a valid access token is required"
		switch {
		case errors.Is(err, token.ErrExpired):
			msg = "the access token has expired"
		case errors.Is(err, token.ErrWrongKind):
			msg = "a refresh token cannot be used as an access token"
		}
		a.dpop.challenges(w.Header(), "invalid_token", "invalid_token")
		writeRefusal(w, http.StatusUnauthorized, "invalid_token", msg)
	default:
		log.ErrorContext(r.Context(), "access token not checked: internal error", "err", err)
		writeRefusal(w, http.StatusInternalServerError, httpapi.CodeInternal, "internal error")
	}
}

func writeRefusal(w http.ResponseWriter, status int, code, msg string) {
	writeRefusalBody(w, status, map[string]string{"error": code, "message": msg})
}

func writeRefusalBody(w http.ResponseWriter, status int, body map[string]string) {
	if status >= 500 {
		httpapi.NoStore(w)
	}
	_ = httpapi.WriteJSON(w, status, body)
}
