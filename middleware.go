package latchkey

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/token"
)

// KeySource returns the access-token verification key for a kid.
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
}

// Authenticator verifies Latchkey access tokens on the host's own routes:
// signature with the key set, expiry with a small leeway, issuer and
// audience; refresh tokens are refused. It does not touch the database: on
// its own, a token stays valid until it expires even if its session is
// revoked. AuthOptions.Revoked (an SSF receiver, package ssf/receiver)
// closes that gap within seconds; CheckSession (in the process that holds
// the store) closes it at once.
type Authenticator struct {
	v       *token.Verifier
	check   func(ctx context.Context, p auth.Principal) error
	revoked func(sessionID string) bool
}

// NewAuthenticator returns an Authenticator.
func NewAuthenticator(o AuthOptions) *Authenticator {
	if o.Audience == "" {
		o.Audience = "latchkey"
	}
	if o.Leeway == 0 {
		o.Leeway = AccessLeeway
	}
	keys := o.Keys
	return &Authenticator{check: o.CheckSession, revoked: o.Revoked, v: &token.Verifier{Issuer: o.Issuer, Audience: o.Audience, Leeway: o.Leeway, Now: o.Now,
		Key: func(ctx context.Context, kid string) (token.PublicKey, error) { return keys(ctx, kid) }}}
}

// Authenticator returns an Authenticator over this handler's own keys (no
// fetching: the keys are in memory) that also checks the session, so
// sign-out and deactivation refuse the host's routes at once.
func (h *Handler) Authenticator() *Authenticator {
	return NewAuthenticator(AuthOptions{Issuer: h.opts.Issuer, Audience: h.opts.Audience, Now: h.opts.Now,
		CheckSession: h.Service.CheckSession,
		Keys: func(_ context.Context, kid string) (token.PublicKey, error) {
			k, ok := h.Tokens.PublicKeys()[kid]
			if !ok {
				return token.PublicKey{}, errors.New("unknown key id")
			}
			return k, nil
		}})
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

// Authenticate verifies the request's bearer access token.
func (a *Authenticator) Authenticate(r *http.Request) (auth.Principal, error) {
	tok, ok := httpapi.BearerToken(r)
	if !ok {
		return auth.Principal{}, errors.New("latchkey: no bearer token")
	}
	c, err := a.v.VerifyAccess(r.Context(), tok)
	if err != nil {
		return auth.Principal{}, err
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
// principal in the context (PrincipalFrom), and answers others 401
// {"error": "invalid_token", "message": ...} with WWW-Authenticate (RFC 6750
// §3), plus "error_reason" when the token is valid but its session is not
// (session_revoked, session_expired, user_inactive).
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r)
		if err != nil {
			msg := "a valid access token is required"
			if auth.ErrorCode(err) == auth.CodeUnavailable {
				httpapi.WriteRetryAfter(w.Header(), 2*time.Second)
				_ = httpapi.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable", "message": "retry later"})
				return
			}
			body := map[string]string{"error": "invalid_token"}
			var ae *auth.Error
			switch {
			case errors.As(err, &ae):
				msg = ae.Message
				if ae.Code != auth.CodeInvalidToken {
					body["error_reason"] = string(ae.Code) // session_revoked, session_expired, ...
				}
			case errors.Is(err, token.ErrExpired):
				msg = "the access token has expired"
			case errors.Is(err, token.ErrWrongKind):
				msg = "a refresh token cannot be used as an access token"
			}
			body["message"] = msg
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			_ = httpapi.WriteJSON(w, http.StatusUnauthorized, body)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}
