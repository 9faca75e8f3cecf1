package oauth2

import (
	"net/http"
	"net/url"

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
	form, err := httpapi.DecodeForm(r)
	if err != nil {
		return err
	}
	clientID, err := clientID(r, form)
	if err != nil {
		return err
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
	h.Cookie.Set(w, g.RefreshToken, g.RefreshExpiresAt)
	httpapi.NoStore(w)
	now := h.Service.Now()
	exp := int64(0)
	if d := g.AccessExpiresAt.Sub(now); d > 0 {
		exp = int64(d.Seconds())
	}
	return httpapi.WriteJSON(w, http.StatusOK, tokenResponse{AccessToken: g.AccessToken, TokenType: "Bearer",
		ExpiresIn: exp, RefreshToken: g.RefreshToken})
}

// clientID reads the client id from HTTP Basic authentication (RFC 6749
// §2.3.1) or the client_id parameter. Latchkey has only public clients: Basic
// with an empty secret is accepted (golang.org/x/oauth2 tries it first); a
// non-empty secret is refused with 401 invalid_client before anything is
// consumed.
func clientID(r *http.Request, form url.Values) (string, error) {
	id := form.Get("client_id")
	if user, pass, ok := r.BasicAuth(); ok {
		u, err1 := url.QueryUnescape(user)
		p, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil || p != "" || (id != "" && id != u) {
			return "", invalidClient("client authentication failed: only public clients (no secret) are supported")
		}
		id = u
	}
	if len(id) > 200 {
		return "", httpapi.InvalidRequest(`the "client_id" parameter is too long`, nil)
	}
	return id, nil
}
