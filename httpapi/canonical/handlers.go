package canonical

import (
	"net/http"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
)

// Options wire the canonical dialect.
type Options struct {
	Service  *auth.Service
	ClientIP httpapi.ClientIP
	// Cookie, when not nil, receives the refresh token of every sign-in and
	// rotation, and is cleared on sign-out (REFRESH_COOKIE=on).
	Cookie *httpapi.RefreshCookie
	// TokenResponse, when not nil, turns a token response into the body to
	// send; kind is "sign-in", "refresh" (POST /token) or "renew" (POST
	// /token/refresh).
	TokenResponse func(r *http.Request, kind string, resp TokenResponse) any
}

type handler struct{ Options }

// Register mounts the canonical routes on mux.
func Register(mux *http.ServeMux, o Options) {
	h := &handler{o}
	route := func(pattern string, f httpapi.HandlerFunc) { mux.Handle(pattern, httpapi.Handle(f, WriteError)) }
	route("POST /auth/sign-up", h.signUp)
	route("POST /auth/sign-in", h.signIn)
	route("POST /token", h.refresh)
	route("POST /token/refresh", h.renew)
	route("GET /auth/me", h.me)
	route("POST /auth/sign-out", h.signOut)
	route("GET /auth/sessions", h.sessions)
	route("DELETE /auth/sessions/{id}", h.deleteSession)
	route("POST /auth/password", h.changePassword)
	route("POST /auth/recover", h.recoverPassword)
	route("POST /auth/reset", h.reset)
	route("POST /auth/verify", h.verify)
	route("POST /auth/verify/resend", h.resendVerification)
}

func (h *handler) signUp(w http.ResponseWriter, r *http.Request) error {
	var in credentials
	if err := httpapi.DecodeJSON(r, &in, httpapi.DecodeOptions{Strict: true}); err != nil {
		return err
	}
	u, err := h.Service.SignUp(r.Context(), in.Email, in.Password)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusCreated, userResponse{User: httpapi.UserOf(u)})
}

func (h *handler) signIn(w http.ResponseWriter, r *http.Request) error {
	if h.Cookie.CrossSite(r) {
		return httpapi.CrossSiteRefused(httpapi.CodeCrossSite)
	}
	var in credentials
	if err := httpapi.DecodeJSON(r, &in, httpapi.DecodeOptions{Strict: true}); err != nil {
		return err
	}
	g, err := h.Service.SignIn(r.Context(), in.Email, in.Password, httpapi.Meta(r, h.ClientIP, ""))
	if err != nil {
		return err
	}
	now := h.Service.Now().UTC()
	h.Cookie.SetGrant(w, r, g)
	abs, user := g.Session.AbsoluteExpiresAt.UTC(), httpapi.UserOf(g.User)
	return h.tokens(w, r, "sign-in", TokenResponse{
		AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, TokenType: g.TokenType(),
		ExpiresIn: seconds(g.AccessExpiresAt, now), RefreshExpiresIn: seconds(g.RefreshExpiresAt, now),
		SessionExpiresAt: &abs, ServerTime: &now, User: &user,
	})
}

// tokens writes a token response, reshaped by Options.TokenResponse.
func (h *handler) tokens(w http.ResponseWriter, r *http.Request, kind string, resp TokenResponse) error {
	httpapi.NoStore(w)
	if h.TokenResponse != nil {
		return httpapi.WriteJSON(w, http.StatusOK, h.TokenResponse(r, kind, resp))
	}
	return httpapi.WriteJSON(w, http.StatusOK, resp)
}

func (h *handler) refresh(w http.ResponseWriter, r *http.Request) error {
	if h.Cookie.CrossSite(r) {
		return httpapi.CrossSiteRefused(httpapi.CodeCrossSite)
	}
	var in refreshRequest
	if err := httpapi.DecodeJSON(r, &in, httpapi.DecodeOptions{Strict: true}); err != nil {
		return err
	}
	if in.RefreshToken == "" {
		return httpapi.InvalidRequest(`field "refreshToken" is required`, nil)
	}
	g, err := h.Service.Refresh(r.Context(), in.RefreshToken, "", httpapi.Meta(r, h.ClientIP, ""))
	if err != nil {
		return refreshFailure{err}
	}
	now := h.Service.Now()
	h.Cookie.SetGrant(w, r, g)
	return h.tokens(w, r, "refresh", TokenResponse{AccessToken: g.AccessToken, RefreshToken: g.RefreshToken,
		TokenType: g.TokenType(), ExpiresIn: seconds(g.AccessExpiresAt, now), RefreshExpiresIn: seconds(g.RefreshExpiresAt, now)})
}

// renew is bearer renewal, POST /token/refresh: a still-valid access token
// buys a new one for the same session; 501 when ACCESS_TOKEN_RENEWAL=off.
func (h *handler) renew(w http.ResponseWriter, r *http.Request) error {
	_, p, err := httpapi.AccessToken(r, h.Service)
	if err != nil {
		return bearerFailure{err}
	}
	if h.Service.Policy().AccessRenewal {
		if err := httpapi.RequiredProof(r, h.Service, p); err != nil {
			return bearerFailure{err}
		}
	}
	g, err := h.Service.RenewAccessFor(r.Context(), p)
	if err != nil {
		return bearerFailure{err}
	}
	return h.tokens(w, r, "renew", TokenResponse{AccessToken: g.AccessToken, TokenType: g.TokenType(),
		ExpiresIn: seconds(g.AccessExpiresAt, h.Service.Now())})
}

func (h *handler) me(w http.ResponseWriter, r *http.Request) error {
	u, err := httpapi.CurrentUser(r, h.Service)
	if err != nil {
		return bearerFailure{err}
	}
	httpapi.NoStore(w)
	return httpapi.WriteJSON(w, http.StatusOK, userResponse{User: u})
}

func (h *handler) signOut(w http.ResponseWriter, r *http.Request) error {
	p, err := httpapi.Principal(r, h.Service)
	if err != nil {
		return bearerFailure{err}
	}
	var in signOutRequest
	if r.ContentLength != 0 {
		if err := httpapi.DecodeJSON(r, &in, httpapi.DecodeOptions{Strict: true}); err != nil {
			return err
		}
	}
	scope, err := auth.ParseScope(in.Scope)
	if err != nil {
		return err
	}
	if err := h.Service.SignOut(r.Context(), p, scope); err != nil {
		return bearerFailure{err}
	}
	if scope != auth.ScopeOthers {
		h.Cookie.Clear(w, r) // not for a cross-site request
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) sessions(w http.ResponseWriter, r *http.Request) error {
	p, err := httpapi.Principal(r, h.Service)
	if err != nil {
		return bearerFailure{err}
	}
	list, err := h.Service.ListSessions(r.Context(), p)
	if err != nil {
		return bearerFailure{err}
	}
	out := sessionsResponse{Sessions: make([]Session, len(list))}
	for i, s := range list {
		out.Sessions[i] = sessionOf(s)
	}
	httpapi.NoStore(w)
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

func (h *handler) deleteSession(w http.ResponseWriter, r *http.Request) error {
	p, err := httpapi.Principal(r, h.Service)
	if err != nil {
		return bearerFailure{err}
	}
	if err := h.Service.RevokeSession(r.Context(), p, r.PathValue("id")); err != nil {
		return bearerFailure{err}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
