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
}

// Authenticator verifies Latchkey access tokens on the host's own routes:
// signature with the key set, expiry with a small leeway, issuer and
// audience; refresh tokens are refused. It does not touch the database, so a
// token stays valid until it expires even if its session is revoked (keep
// access tokens short; POST /oauth/introspect answers at once).
type Authenticator struct {
	v *token.Verifier
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
	return &Authenticator{v: &token.Verifier{Issuer: o.Issuer, Audience: o.Audience, Leeway: o.Leeway, Now: o.Now,
		Key: func(ctx context.Context, kid string) (token.PublicKey, error) { return keys(ctx, kid) }}}
}

// Authenticator returns an Authenticator over this handler's own keys (no
// fetching: the keys are in memory).
func (h *Handler) Authenticator() *Authenticator {
	return NewAuthenticator(AuthOptions{Issuer: h.opts.Issuer, Audience: h.opts.Audience, Now: h.opts.Now,
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
	return auth.Principal{UserID: c.Subject, SessionID: c.SessionID, Claims: c}, nil
}

// Middleware lets requests with a valid access token through, with the
// principal in the context (PrincipalFrom), and answers others 401
// {"error": "invalid_token", "message": ...} with WWW-Authenticate (RFC 6750
// §3).
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r)
		if err != nil {
			msg := "a valid access token is required"
			switch {
			case errors.Is(err, token.ErrExpired):
				msg = "the access token has expired"
			case errors.Is(err, token.ErrWrongKind):
				msg = "a refresh token cannot be used as an access token"
			}
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			_ = httpapi.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "message": msg})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}
