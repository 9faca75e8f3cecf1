package login

import (
	"net/http"
	"net/url"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
)

// Options wire the login-URL dialect.
type Options struct {
	Service  *auth.Service
	ClientIP httpapi.ClientIP
	// Cookie, when not nil, receives the refresh token of every sign-in and
	// refresh (REFRESH_COOKIE=on), except of a session bound to a client_id
	// (RefreshCookie.SetGrant).
	Cookie *httpapi.RefreshCookie
	// Me registers GET /auth/me (aurelia's profileUrl). The canonical
	// dialect serves that route with the same body, and http.ServeMux
	// panics on a pattern registered twice: set Me only when canonical is
	// off.
	Me bool
}

type handler struct{ Options }

// Register mounts the login-URL routes on mux.
func Register(mux *http.ServeMux, o Options) {
	h := &handler{o}
	route := func(pattern string, f httpapi.HandlerFunc) { mux.Handle(pattern, httpapi.Handle(f, WriteError)) }
	route("POST /auth/login", h.login)
	route("POST /auth/signup", h.signup)
	if o.Me {
		route("GET /auth/me", h.me)
	}
}

// tokenResponse is what aurelia-authentication reads after a login, a
// refresh and (loginOnSignup) a sign-up: access_token (accessTokenProp) and
// refresh_token (refreshTokenProp); it takes the expiry from the access
// token's exp claim, and expires_in is there for clients that do not.
type tokenResponse struct {
	AccessToken  string       `json:"access_token"`
	RefreshToken string       `json:"refresh_token"`
	TokenType    string       `json:"token_type"`
	ExpiresIn    int64        `json:"expires_in"`
	User         httpapi.User `json:"user"`
}

type userResponse struct {
	User httpapi.User `json:"user"`
}

// login is POST /auth/login: a sign-in, or with grant_type=refresh_token a
// refresh. The bodies are the ones aurelia-authentication 3.8.3 builds in
// src/authService.js: login() at lines 486-510 sends
// {email, password[, client_id][, client_secret]} and updateToken() at lines
// 389-410 sends {grant_type: "refresh_token"[, client_id][, client_secret],
// refresh_token} (the key is refreshTokenSubmitProp, default
// "refresh_token"), both to loginUrl "/auth/login" (src/baseConfig.js line
// 79; refreshTokenUrl null = loginUrl, line 95) with
// defaultHeadersForTokenRequests {"Content-Type": "application/json"}
// (line 182). aurelia-api 3.2.1's Rest.request (src/rest.js lines 72-79)
// JSON-encodes the body for a JSON Content-Type and form-encodes it
// otherwise.
func (h *handler) login(w http.ResponseWriter, r *http.Request) error {
	if h.Cookie.CrossSite(r) {
		return httpapi.CrossSiteRefused("invalid_request")
	}
	form, err := httpapi.DecodeForm(r)
	if err != nil {
		return err
	}
	clientID, err := clientOf(form)
	if err != nil {
		return err
	}
	ctx := r.Context()
	meta := httpapi.Meta(r, h.ClientIP, clientID)
	var g *auth.Grant
	switch gt := form.Get("grant_type"); gt {
	case "refresh_token":
		// aurelia sends the old access token, maybe expired, in the
		// Authorization header; the refresh token alone decides.
		rt := form.Get("refresh_token")
		if rt == "" {
			return httpapi.InvalidRequest(`the "refresh_token" parameter is required with grant_type "refresh_token"`, nil)
		}
		if g, err = h.Service.Refresh(ctx, rt, clientID, meta); err != nil {
			return refreshFailure{err}
		}
		// A refresh does not read the user row; the response shape has
		// the user. Should this read fail after the rotation, the client
		// may retry with the same token within REFRESH_TOKEN_REUSE_INTERVAL.
		if g.User, err = h.Service.User(ctx, g.Session.UserID); err != nil {
			return refreshFailure{err}
		}
	case "", "password":
		email := form.Get("email")
		if email == "" {
			email = form.Get("username") // login({username, password}) and OAuth's password grant
		}
		pw := form.Get("password")
		if email == "" || pw == "" {
			return httpapi.InvalidRequest(`the "email" and "password" parameters are required`, nil)
		}
		if g, err = h.Service.SignIn(ctx, email, pw, meta); err != nil {
			return err
		}
	default:
		return &httpapi.Error{Status: http.StatusBadRequest, Code: "unsupported_grant_type",
			Message: `grant_type must be "refresh_token", or absent to sign in with email and password`}
	}
	return h.writeTokens(w, r, http.StatusOK, g)
}

// signup is POST /auth/signup. aurelia's signup() (src/authService.js lines
// 448-465) posts {displayName, email, password} (displayName ignored here)
// and, with loginOnSignup (default true, src/baseConfig.js line 64), reads
// the response as a login response; so a sign-up also signs in.
func (h *handler) signup(w http.ResponseWriter, r *http.Request) error {
	if h.Cookie.CrossSite(r) {
		return httpapi.CrossSiteRefused("invalid_request")
	}
	form, err := httpapi.DecodeForm(r)
	if err != nil {
		return err
	}
	clientID, err := clientOf(form)
	if err != nil {
		return err
	}
	email, pw := form.Get("email"), form.Get("password")
	if email == "" || pw == "" {
		return httpapi.InvalidRequest(`the "email" and "password" parameters are required`, nil)
	}
	u, err := h.Service.SignUp(r.Context(), email, pw)
	if err != nil {
		return err
	}
	g, err := h.Service.SignIn(r.Context(), email, pw, httpapi.Meta(r, h.ClientIP, clientID))
	if err != nil {
		// The account exists, so this is still a 201; without tokens
		// aurelia treats it as signed up, not signed in. The sign-in error
		// is returned after the response only to be logged.
		if werr := httpapi.WriteJSON(w, http.StatusCreated, userResponse{User: httpapi.UserOf(u)}); werr != nil {
			return werr
		}
		return err
	}
	return h.writeTokens(w, r, http.StatusCreated, g)
}

func (h *handler) writeTokens(w http.ResponseWriter, r *http.Request, status int, g *auth.Grant) error {
	h.Cookie.SetGrant(w, r, g)
	httpapi.NoStore(w)
	exp := int64(0)
	if d := g.AccessExpiresAt.Sub(h.Service.Now()); d > 0 {
		exp = int64(d.Seconds())
	}
	return httpapi.WriteJSON(w, status, tokenResponse{AccessToken: g.AccessToken, RefreshToken: g.RefreshToken,
		TokenType: g.TokenType(), ExpiresIn: exp, User: httpapi.UserOf(g.User)})
}

// me is GET /auth/me (aurelia's getMe, src/authService.js line 238: a GET of
// profileUrl, the body handed to the app as the profile), with the
// canonical dialect's body.
func (h *handler) me(w http.ResponseWriter, r *http.Request) error {
	u, err := httpapi.CurrentUser(r, h.Service)
	if err != nil {
		return bearerFailure{err}
	}
	httpapi.NoStore(w)
	return httpapi.WriteJSON(w, http.StatusOK, userResponse{User: u})
}

// clientOf returns the optional client_id. Client credentials are refused
// with 401 invalid_client (RFC 6749 §5.2): Latchkey has only public clients,
// so it can verify none, and a single-page app cannot keep a secret anyway
// (aurelia sends one when clientSecret is configured). A scope is refused
// with invalid_scope until scopes exist (RFC 6749 §3.3).
//
// The Authorization header is not read: aurelia sends the old access token
// there when it refreshes.
func clientOf(form url.Values) (string, error) {
	if form.Get("client_secret") != "" || form.Has("client_assertion") || form.Has("client_assertion_type") {
		// No "WWW-Authenticate: Basic", unlike the OAuth dialect: this
		// dialect's clients are browser apps, and a Basic challenge on a
		// fetch makes browsers prompt for a password.
		return "", &httpapi.Error{Status: http.StatusUnauthorized, Code: "invalid_client",
			Message: "client authentication failed: only public clients (no client_secret or client_assertion) are supported"}
	}
	if form.Get("scope") != "" {
		return "", &httpapi.Error{Status: http.StatusBadRequest, Code: "invalid_scope",
			Message: "scope is not supported: leave it out (tokens carry no scopes)"}
	}
	id := form.Get("client_id")
	if err := httpapi.CheckClientID(id); err != nil {
		return "", err
	}
	return id, nil
}
