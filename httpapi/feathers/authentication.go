package feathers

import (
	"net/http"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
)

// Path is where Feathers clients find the authentication service (the
// client's default "path" option).
const Path = "/authentication"

// Options wire the Feathers dialect.
type Options struct {
	Service  *auth.Service
	ClientIP httpapi.ClientIP
	// Cookie, when not nil, receives the refresh token of every sign-in and
	// refresh, and is cleared on sign-out (REFRESH_COOKIE=on).
	Cookie *httpapi.RefreshCookie
}

type handler struct{ Options }

// Register mounts the Feathers authentication service on mux.
func Register(mux *http.ServeMux, o Options) {
	h := &handler{o}
	route := func(pattern string, f httpapi.HandlerFunc) { mux.Handle(pattern, httpapi.Handle(f, WriteError)) }
	route("POST "+Path, h.create)
	route("DELETE "+Path, h.remove)
	route("DELETE "+Path+"/{id}", h.remove)
	// Any other method is a service method the authentication service does
	// not have (find, get, update, patch), answered as Feathers does.
	route(Path, methodNotAllowed)
	route(Path+"/{id}", methodNotAllowed)
}

// create is the service's create: sign-in, re-authentication or refresh.
func (h *handler) create(w http.ResponseWriter, r *http.Request) error {
	var in createRequest
	// Not strict: Feathers clients may send fields of their own.
	if err := httpapi.DecodeJSON(r, &in, httpapi.DecodeOptions{}); err != nil {
		return err
	}
	var (
		res *result
		err error
	)
	// A sign-in or refresh sets the refresh cookie: a cross-site page must
	// not plant one (login CSRF), so it is refused before anything else.
	if (in.Action == "refresh" || in.Action == "" && in.Strategy == "local") && h.Cookie.CrossSite(r) {
		return httpapi.CrossSiteRefused(httpapi.CodeCrossSite)
	}
	switch {
	case in.Action == "refresh":
		res, err = h.refresh(w, r, in)
	case in.Action != "":
		return badRequest(`unsupported action ` + httpapi.Quote(in.Action) + `; the only action is "refresh"`)
	case in.Strategy == "local":
		res, err = h.local(w, r, in)
	case in.Strategy == "jwt":
		res, _, err = h.jwt(r, in.AccessToken)
	case in.Strategy == "":
		return badRequest(`Invalid authentication information (no "strategy" set)`)
	default:
		return badRequest(`Invalid authentication information (strategy ` + httpapi.Quote(in.Strategy) +
			` not allowed; use "local" or "jwt")`)
	}
	if err != nil {
		return err
	}
	httpapi.NoStore(w)
	return httpapi.WriteJSON(w, http.StatusCreated, res)
}

// local signs in with email and password (Feathers' LocalStrategy with its
// default usernameField "email").
func (h *handler) local(w http.ResponseWriter, r *http.Request, in createRequest) (*result, error) {
	g, err := h.Service.SignIn(r.Context(), in.Email, in.Password, httpapi.Meta(r, h.ClientIP, ""))
	if err != nil {
		return nil, err
	}
	return h.granted(w, r, "local", g)
}

// refresh is the refresh recipe's {action: "refresh", refresh_token}: new
// access and refresh tokens for the session, the same shape as a sign-in.
func (h *handler) refresh(w http.ResponseWriter, r *http.Request, in createRequest) (*result, error) {
	rt := in.RefreshToken
	if rt == "" {
		// The sign-in response calls it refreshToken; take that spelling too.
		rt = in.RefreshTokenCamel
	}
	if rt == "" {
		return nil, &auth.Error{Code: auth.CodeRefreshInvalid, Message: "No refresh token"}
	}
	g, err := h.Service.Refresh(r.Context(), rt, "", httpapi.Meta(r, h.ClientIP, ""))
	if err != nil {
		return nil, err
	}
	// A refresh does not read the user row; the response carries the user
	// like every Feathers authentication result.
	u, err := h.Service.User(r.Context(), g.Session.UserID)
	if err != nil {
		return nil, err
	}
	g.User = u
	return h.granted(w, r, in.Strategy, g)
}

// granted is the result of a sign-in or refresh; it also sets the refresh
// cookie.
func (h *handler) granted(w http.ResponseWriter, r *http.Request, strategy string, g *auth.Grant) (*result, error) {
	payload, err := payloadOf(g.AccessToken)
	if err != nil {
		return nil, err
	}
	h.Cookie.SetGrant(w, r, g)
	user := httpapi.UserOf(g.User)
	return &result{AccessToken: g.AccessToken, RefreshToken: g.RefreshToken,
		Authentication: authentication{Strategy: strategy, AccessToken: g.AccessToken, Payload: payload}, User: &user}, nil
}

// jwt is Feathers' JWTStrategy: it verifies an access token and answers
// with it, its payload and its user (reAuthenticate sends this). Unlike a
// Feathers server, which trusts the token until it expires, it also requires
// the user to exist and be active and the token's session to be live
// (CheckSession): after sign-out, revocation or deactivation the client
// cannot re-authenticate with the access token it still holds.
//
// A token bound to a DPoP key needs the request's DPoP header: a proof by
// that key for this request with the token's hash (RFC 9449 §7.1).
func (h *handler) jwt(r *http.Request, accessToken string) (*result, auth.Principal, error) {
	ctx := r.Context()
	if accessToken == "" {
		return nil, auth.Principal{}, &auth.Error{Code: auth.CodeInvalidToken, Message: "No access token"}
	}
	p, err := h.Service.Authenticate(ctx, accessToken)
	if err != nil {
		return nil, p, err
	}
	if err := httpapi.ConfirmProof(r, h.Service, accessToken, p); err != nil {
		return nil, p, err
	}
	return h.authenticated(r, accessToken, p)
}

// authenticated is jwt's answer for a token already verified (and its
// proof checked): the user must exist and be active, the session live.
func (h *handler) authenticated(r *http.Request, accessToken string, p auth.Principal) (*result, auth.Principal, error) {
	ctx := r.Context()
	u, err := h.Service.User(ctx, p.UserID)
	if err != nil {
		return nil, p, err
	}
	if u.Status != auth.UserActive {
		return nil, p, &auth.Error{Code: auth.CodeUserInactive, Message: "the user is not active"}
	}
	// Re-authentication is a server round trip anyway, so checking the
	// session costs one indexed read more.
	if err := h.Service.CheckSession(ctx, p); err != nil {
		return nil, p, err
	}
	payload, err := payloadOf(accessToken)
	if err != nil {
		return nil, p, err
	}
	user := httpapi.UserOf(u)
	return &result{AccessToken: accessToken,
		Authentication: authentication{Strategy: "jwt", AccessToken: accessToken, Payload: payload}, User: &user}, p, nil
}

// remove is the service's remove, which the client's logout() calls as
// DELETE /authentication with the stored token as a bearer token. It signs
// out the token's session (auth.ScopeLocal), clears the refresh cookie and,
// like a Feathers server, answers the token's authentication result. With an
// id (DELETE /authentication/:id) the id must be that same access token.
func (h *handler) remove(w http.ResponseWriter, r *http.Request) error {
	tok, ok := httpapi.PresentedToken(r)
	if !ok {
		return bearerFailure{&auth.Error{Code: auth.CodeInvalidToken,
			Message: "Not authenticated: an access token is required (Authorization: Bearer)", Err: httpapi.ErrNoBearer}}
	}
	if id := r.PathValue("id"); id != "" && id != tok {
		return bearerFailure{&auth.Error{Code: auth.CodeInvalidToken, Message: "Invalid access token"}}
	}
	// Bearer, or DPoP with its proof (httpapi.AccessToken).
	tok, p, err := httpapi.AccessToken(r, h.Service)
	if err != nil {
		return bearerFailure{err}
	}
	res, p, err := h.authenticated(r, tok, p)
	if err != nil {
		return bearerFailure{err}
	}
	if err := h.Service.SignOut(r.Context(), p, auth.ScopeLocal); err != nil {
		return bearerFailure{err}
	}
	h.Cookie.Clear(w, r) // not for a cross-site request
	httpapi.NoStore(w)
	return httpapi.WriteJSON(w, http.StatusOK, res)
}

// methodNotAllowed answers the service methods /authentication lacks.
func methodNotAllowed(w http.ResponseWriter, r *http.Request) error {
	method := map[string]string{http.MethodGet: "find", http.MethodPut: "update", http.MethodPatch: "patch"}[r.Method]
	if r.PathValue("id") != "" && r.Method == http.MethodGet {
		method = "get"
	}
	msg := "Method " + r.Method + " is not supported by this endpoint."
	if method != "" {
		msg = "Method `" + method + "` is not supported by this endpoint."
	}
	allow := "POST, DELETE"
	if r.PathValue("id") != "" {
		allow = "DELETE"
	}
	return &httpapi.Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: msg,
		Header: http.Header{"Allow": {allow}}}
}
