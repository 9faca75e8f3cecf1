package oauth2

import (
	"net/http"
	"net/url"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
)

// Options wire the OAuth 2.0 dialect.
type Options struct {
	Service  *auth.Service
	ClientIP httpapi.ClientIP
	Cookie   *httpapi.RefreshCookie // set on sign-in and rotation when REFRESH_COOKIE=on, unless the session names a client_id (SetGrant)
	// Issuer is the RFC 8414 issuer: exactly the base URL clients use.
	Issuer string
	// BaseURL is the external base URL the endpoint URLs of the metadata
	// are built from (PUBLIC_URL); Issuer when empty.
	BaseURL string
}

type handler struct{ Options }

// Register mounts the OAuth 2.0 routes on mux.
func Register(mux *http.ServeMux, o Options) {
	h := &handler{o}
	route := func(pattern string, f httpapi.HandlerFunc) { mux.Handle(pattern, httpapi.Handle(f, WriteError)) }
	route("POST /oauth/token", h.token)
	route("POST /oauth/revoke", h.revoke)
	route("POST /oauth/introspect", h.introspect)
	route("GET /.well-known/oauth-authorization-server", h.metadata)
	route("GET /.well-known/jwks.json", h.jwks)
}

// tokenForm reads the body shared by revocation (RFC 7009 §2.1) and
// introspection (RFC 7662 §2.1): the form, the client (public clients
// only: clientID refuses credentials), and the required "token" parameter.
func tokenForm(r *http.Request, bearerOK bool) (form url.Values, client, tok string, err error) {
	if form, err = httpapi.DecodeForm(r); err != nil {
		return nil, "", "", err
	}
	if client, err = clientID(r, form, bearerOK); err != nil {
		return nil, "", "", err
	}
	if tok = form.Get("token"); tok == "" {
		return nil, "", "", httpapi.InvalidRequest(`the "token" parameter is required`, nil)
	}
	return form, client, tok, nil
}

// revoke is RFC 7009 §2: 200 for valid and unknown tokens alike. A token
// issued to a client is revoked only by a request that names that client
// (400 unauthorized_client otherwise, §2.1). The refresh cookie is cleared,
// except for a cross-site request: another site's page must not sign the
// browser out. A DPoP-bound token needs the request's proof by its key.
func (h *handler) revoke(w http.ResponseWriter, r *http.Request) error {
	form, client, tok, err := tokenForm(r, false)
	if err != nil {
		return err
	}
	if err := h.Service.RevokeToken(r.Context(), tok, form.Get("token_type_hint"), client, httpapi.Meta(r, h.ClientIP, client)); err != nil {
		return err
	}
	h.Cookie.Clear(w, r)
	httpapi.NoStore(w)
	w.WriteHeader(http.StatusOK)
	return nil
}

type introspection struct {
	Active    bool     `json:"active"`
	TokenUse  string   `json:"token_use,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Sid       string   `json:"sid,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Jti       string   `json:"jti,omitempty"`
	// Cnf is the key a DPoP-bound token is bound to (RFC 9449 §6.2).
	Cnf *confirmation `json:"cnf,omitempty"`
}

// confirmation is RFC 7800's cnf with RFC 9449's jkt member.
type confirmation struct {
	JKT string `json:"jkt"`
}

// introspect is RFC 7662 §2: {"active": false} for anything not active now.
func (h *handler) introspect(w http.ResponseWriter, r *http.Request) error {
	_, _, tok, err := tokenForm(r, true)
	if err != nil {
		return err
	}
	// No caller is an authenticated client (public clients only), so
	// refresh tokens are answered inactive (RFC 7662 §2.1).
	in, err := h.Service.Introspect(r.Context(), tok, false)
	if err != nil {
		return err
	}
	out := introspection{Active: in.Active}
	if in.Active {
		out = introspection{Active: true, TokenUse: in.TokenUse, Sub: in.Subject, Sid: in.SessionID, ClientID: in.ClientID,
			Exp: in.ExpiresAt.Unix(), Iat: in.IssuedAt.Unix(), Iss: in.Issuer, Aud: in.Audience, Jti: in.ID}
		if in.TokenUse == "access" {
			out.TokenType = "Bearer"
			if in.JKT != "" {
				out.TokenType = "DPoP"
			}
		}
		if in.JKT != "" {
			out.Cnf = &confirmation{JKT: in.JKT}
		}
	}
	httpapi.NoStore(w)
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

type metadata struct {
	Issuer                        string   `json:"issuer"`
	TokenEndpoint                 string   `json:"token_endpoint"`
	RevocationEndpoint            string   `json:"revocation_endpoint"`
	IntrospectionEndpoint         string   `json:"introspection_endpoint"`
	JWKSURI                       string   `json:"jwks_uri"`
	GrantTypesSupported           []string `json:"grant_types_supported"`
	ResponseTypesSupported        []string `json:"response_types_supported"`
	TokenEndpointAuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethods []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionAuthMethods      []string `json:"introspection_endpoint_auth_methods_supported"`
	SigningAlgValues              []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	DPoPSigningAlgValues          []string `json:"dpop_signing_alg_values_supported,omitempty"`
}

// metadata is RFC 8414 §3: issuer equals the base URL clients use, exactly;
// the endpoints are under BaseURL. Latchkey has no authorization endpoint,
// so response_types_supported (a required member) is empty. The client
// authentication methods are what works: "none" (public clients; RFC 8414
// §2), since every secret is refused.
func (h *handler) metadata(w http.ResponseWriter, r *http.Request) error {
	base := h.BaseURL
	if base == "" {
		base = h.Issuer
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	return httpapi.WriteJSON(w, http.StatusOK, metadata{
		Issuer: h.Issuer, TokenEndpoint: base + "/oauth/token", RevocationEndpoint: base + "/oauth/revoke",
		IntrospectionEndpoint: base + "/oauth/introspect", JWKSURI: base + "/.well-known/jwks.json",
		GrantTypesSupported: []string{"password", "refresh_token"}, ResponseTypesSupported: []string{},
		TokenEndpointAuthMethods: []string{"none"}, RevocationEndpointAuthMethods: []string{"none"},
		IntrospectionAuthMethods: []string{"none"}, DPoPSigningAlgValues: httpapi.DPoPAlgs(r),
	})
}

// jwks serves the public keys (RFC 7517). Caches may keep it briefly; a
// verifier that meets an unknown kid should fetch it again.
func (h *handler) jwks(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	_, err := w.Write(h.Service.Tokens().JWKS())
	return err
}
