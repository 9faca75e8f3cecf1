package oauth2

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
)

// tokenResponse is RFC 6749 §5.1's successful response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// token is POST /oauth/token.
func (h *handler) token(w http.ResponseWriter, r *http.Request) error {
	// Both grants set the refresh cookie: a cross-site form POST must not
	// plant one (login CSRF), so it is refused before anything is read.
	if h.Cookie.CrossSite(r) {
		return httpapi.CrossSiteRefused("invalid_request")
	}
	form, err := httpapi.DecodeForm(r)
	if err != nil {
		return err
	}
	clientID, err := clientID(r, form, false)
	if err != nil {
		return err
	}
	if form.Get("scope") != "" {
		// Tokens carry no scopes yet: granting one silently would let a
		// client believe it holds it, and a refresh must never widen the
		// grant (RFC 6749 §3.3, §5.2, §6).
		return &httpapi.Error{Status: http.StatusBadRequest, Code: "invalid_scope",
			Message: "scope is not supported: leave it out (tokens carry no scopes)"}
	}
	var g *auth.Grant
	switch gt := form.Get("grant_type"); gt {
	case "refresh_token":
		rt := form.Get("refresh_token")
		if rt == "" {
			return httpapi.InvalidRequest(`the "refresh_token" parameter is required`, nil)
		}
		g, err = h.Service.Refresh(r.Context(), rt, clientID, httpapi.Meta(r, h.ClientIP, clientID))
	case "password":
		user, pw := form.Get("username"), form.Get("password")
		if user == "" || pw == "" {
			return httpapi.InvalidRequest(`the "username" and "password" parameters are required`, nil)
		}
		g, err = h.Service.SignIn(r.Context(), user, pw, httpapi.Meta(r, h.ClientIP, clientID))
	case "":
		return httpapi.InvalidRequest(`the "grant_type" parameter is required`, nil)
	default:
		return &httpapi.Error{Status: http.StatusBadRequest, Code: "unsupported_grant_type", Message: "supported grant types: password, refresh_token"}
	}
	if err != nil {
		return err
	}
	h.Cookie.SetGrant(w, r, g)
	httpapi.NoStore(w)
	now := h.Service.Now()
	exp := int64(0)
	if d := g.AccessExpiresAt.Sub(now); d > 0 {
		exp = int64(d.Seconds())
	}
	return httpapi.WriteJSON(w, http.StatusOK, tokenResponse{AccessToken: g.AccessToken, TokenType: g.TokenType(),
		ExpiresIn: exp, RefreshToken: g.RefreshToken})
}

// clientID returns the client the request names (RFC 6749 §2.3), by HTTP
// Basic or by the client_id parameter. Latchkey has only public clients:
// it knows no secret, so it can verify no client credential, and every
// credential is refused before anything is consumed:
//
//   - Basic with a client id and an empty secret is accepted
//     (golang.org/x/oauth2 tries it first); the id and secret are
//     form-encoded inside it (§2.3.1);
//   - a secret, in Basic or as client_secret in the body, and a
//     client_assertion (RFC 7521) are 401 invalid_client (§5.2): a wrong
//     secret must not get tokens, which it did when only Basic was checked
//     and x/oauth2 retried with the secret in the body;
//   - an Authorization header that is not valid Basic (another scheme, a
//     Bearer token, bad base64, no colon, two headers) is 401
//     invalid_client;
//   - Basic and a client_id parameter at once are two methods (§2.3: a
//     client "MUST NOT use more than one authentication method in each
//     request"): 400 invalid_request;
//   - a client id that is not VSCHAR (httpapi.CheckClientID) is 400
//     invalid_request.
//
// Every 401 carries WWW-Authenticate: Basic (§5.2). With bearerOK (the
// introspection endpoint) an "Authorization: Bearer" header is let through
// unread: RFC 7662 §2.1 lets a protected resource authorize itself with its
// own access token there, and introspection callers are not authenticated.
func clientID(r *http.Request, form url.Values, bearerOK bool) (string, error) {
	if form.Get("client_secret") != "" {
		return "", invalidClient("client authentication failed: only public clients (no client_secret) are supported")
	}
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		return "", invalidClient("client authentication failed: client assertions are not supported (public clients only)")
	}
	id := form.Get("client_id")
	if vals := r.Header.Values("Authorization"); len(vals) > 0 && !(bearerOK && isBearer(vals)) {
		user, pass, ok := basicAuth(vals)
		if !ok {
			return "", invalidClient("client authentication failed: the Authorization header must be HTTP Basic with the client id and an empty secret")
		}
		if pass != "" {
			return "", invalidClient("client authentication failed: only public clients (no secret) are supported")
		}
		if form.Has("client_id") {
			return "", httpapi.InvalidRequest("the client is identified twice (HTTP Basic and client_id): use one", nil)
		}
		id = user
	}
	if err := httpapi.CheckClientID(id); err != nil {
		return "", err
	}
	return id, nil
}

// isBearer reports whether vals is one "Authorization: Bearer ..." header.
func isBearer(vals []string) bool {
	scheme, _, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
	return len(vals) == 1 && strings.EqualFold(scheme, "Bearer")
}

// basicAuth parses the one Authorization header of vals as HTTP Basic (RFC
// 7617) with a form-encoded id and secret (RFC 6749 §2.3.1).
func basicAuth(vals []string) (user, pass string, ok bool) {
	if len(vals) != 1 {
		return "", "", false
	}
	r := http.Request{Header: http.Header{"Authorization": vals}}
	u, p, ok := r.BasicAuth()
	if !ok {
		return "", "", false
	}
	user, err1 := url.QueryUnescape(u)
	pass, err2 := url.QueryUnescape(p)
	return user, pass, err1 == nil && err2 == nil
}
