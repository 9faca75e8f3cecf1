package cookie

import (
	"net/http"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
)

// Path is the cookie-refresh route. The refresh cookie's Path must cover it.
const Path = "/api/refresh/refreshtoken"

// Options wire the cookie dialect.
type Options struct {
	Service  *auth.Service
	ClientIP httpapi.ClientIP
	// Cookie reads and sets the refresh cookie; nil when REFRESH_COOKIE=off,
	// and the route then answers 404.
	Cookie *httpapi.RefreshCookie
	// Origins are the cross-site callers allowed besides the same origin
	// (CORS_ALLOWED_ORIGINS).
	Origins httpapi.Origins
}

type handler struct{ Options }

// Register mounts GET /api/refresh/refreshtoken on mux. The route changes
// state (it rotates the refresh token), so HEAD, which http.ServeMux would
// hand to a GET route, answers 405 like every other method.
func Register(mux *http.ServeMux, o Options) {
	h := &handler{o}
	mux.Handle("GET "+Path, httpapi.GETOnly(httpapi.Handle(h.refresh, WriteError), WriteError))
}

type tokenResponse struct {
	AccessToken string `json:"accessToken"`
}

// refresh is GET /api/refresh/refreshtoken, DeployHub's cookie refresh.
func (h *handler) refresh(w http.ResponseWriter, r *http.Request) error {
	if h.Cookie == nil {
		return &httpapi.Error{Status: http.StatusNotFound, Code: "cookie_disabled",
			Message: "refresh cookies are switched off on this server (REFRESH_COOKIE=off)"}
	}
	// Refuse before the token is touched: a cross-site page must not be
	// able to rotate (and so spend) the user's refresh token.
	if !h.Origins.SameOriginOrAllowed(r) {
		return httpapi.CrossSiteRefused(httpapi.CodeCrossSite)
	}
	tok, ok := h.Cookie.Value(r)
	if !ok {
		return &httpapi.Error{Status: http.StatusBadRequest, Code: "refresh_token_missing",
			Message: "refresh token cookie not received"}
	}
	g, err := h.Service.Refresh(r.Context(), tok, "", httpapi.Meta(r, h.ClientIP, ""))
	if err != nil {
		code := auth.ErrorCode(err)
		dpopFailure := code == auth.CodeInvalidDPoPProof || code == auth.CodeUseDPoPNonce
		if status, _ := Status(code); (status == http.StatusBadRequest || status == http.StatusNotFound) && !dpopFailure {
			h.Cookie.Clear(w, r) // the token can never work again
		}
		// A refused DPoP proof leaves the token as good as it was (a retry
		// with a proof by the session's key, or the server's nonce, works):
		// the cookie stays.
		return err
	}
	// Rotation off: g.RefreshToken is the presented token and
	// g.RefreshExpiresAt its own expiry, so the cookie is set unchanged.
	h.Cookie.SetGrant(w, r, g)
	httpapi.NoStore(w)
	return httpapi.WriteJSON(w, http.StatusOK, tokenResponse{AccessToken: g.AccessToken})
}
