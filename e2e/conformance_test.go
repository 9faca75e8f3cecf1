package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// The protocol conformance table: what a strict client or a
// conformance suite checks, one row per exchange, through the real handler
// over HTTP (servertest also checks every exchange against the OpenAPI
// document). Each row names the rule it covers (a tag of the numbered groups
// below), builds its request from a fresh server's tokens, and states the
// answer: status, headers (exact, absent, or by prefix), the members of the
// JSON body, and, where the rule is about what must not happen, a check of
// the state afterwards.

// confEnv is a row's server and the sign-ins it starts from.
type confEnv struct {
	s *servertest.Server
	// v is a canonical sign-in of ann (no client), cookie the Cookie
	// header of its refresh cookie; o an OAuth password grant of ann with
	// client_id app-a.
	v      secTokens
	cookie string
	o      struct{ Access, Refresh string }
}

type confWant struct {
	status int
	// header values: exact; "" means the header must be absent; a value
	// ending in "*" is a prefix.
	header map[string]string
	// body members: exact values (JSON numbers as float64); nil means the
	// member must be present, whatever its value.
	body map[string]any
	// noBody: the response has no body.
	noBody bool
}

type confCase struct {
	item, name string
	cfg        func(*config.Config)
	do         func(t *testing.T, e *confEnv) *secResponse
	want       confWant
	// after checks the state the request must have left (or changed).
	after func(t *testing.T, e *confEnv, r *secResponse)
}

const confForm = "application/x-www-form-urlencoded"

func confPost(t *testing.T, e *confEnv, path string, v url.Values, headers ...string) *secResponse {
	return secMustDo(t, e.s, "POST", path, confForm, v.Encode(), headers...)
}

// basic is an Authorization header of HTTP Basic with the id and secret
// form-encoded (RFC 6749 §2.3.1).
func basic(id, secret string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// confRefreshWorks fails unless refresh token rt of client still refreshes
// through OAuth: the refused request before consumed nothing.
func confRefreshWorks(t *testing.T, e *confEnv, rt, client string) {
	t.Helper()
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	if client != "" {
		v.Set("client_id", client)
	}
	if r := confPost(t, e, "/oauth/token", v); r.Status != http.StatusOK {
		t.Fatalf("the refresh token no longer works after the refused request: %d %s", r.Status, r.Body)
	}
}

// oauthDescription is the character set of RFC 6749 §5.2's
// error_description: %x20-21 / %x23-5B / %x5D-7E.
var oauthDescription = regexp.MustCompile(`^[\x20\x21\x23-\x5B\x5D-\x7E]*$`)

var confCases = []confCase{
	// 1. [safe-methods] A HEAD of the cookie refresh must not rotate the refresh token
	// (RFC 9110 §9.3.2); nor may any method but GET.
	{item: "safe-methods", name: "HEAD on the cookie refresh",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "HEAD", "/api/refresh/refreshtoken", "", "", "Cookie: "+e.cookie)
		},
		want: confWant{status: 405, header: map[string]string{"Allow": "GET", "Set-Cookie": ""}, noBody: true},
		after: func(t *testing.T, e *confEnv, _ *secResponse) {
			if s := secSession(t, e.s, e.v.SID); s.Generation != 1 || s.Revoked() {
				t.Fatalf("the HEAD changed the session: %+v", s)
			}
		}},
	{item: "safe-methods", name: "POST on the cookie refresh",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "POST", "/api/refresh/refreshtoken", "", "", "Cookie: "+e.cookie)
		},
		want: confWant{status: 405, header: map[string]string{"Allow": "GET"}, body: map[string]any{"error": "method_not_allowed"}},
		after: func(t *testing.T, e *confEnv, _ *secResponse) {
			if s := secSession(t, e.s, e.v.SID); s.Generation != 1 {
				t.Fatalf("the POST rotated the session: %+v", s)
			}
		}},
	{item: "safe-methods", name: "GET on the cookie refresh (control)",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "GET", "/api/refresh/refreshtoken", "", "", "Cookie: "+e.cookie)
		},
		want: confWant{status: 200, header: map[string]string{"Set-Cookie": "refreshToken=*"}, body: map[string]any{"accessToken": nil}},
		after: func(t *testing.T, e *confEnv, _ *secResponse) {
			if s := secSession(t, e.s, e.v.SID); s.Generation != 2 {
				t.Fatalf("the GET did not rotate the session: %+v", s)
			}
		}},

	// 2. [client-credentials] Any client credential the server cannot verify is 401
	// invalid_client, before anything is consumed (RFC 6749 §2.3.1, §5.2).
	{item: "client-credentials", name: "client_secret in the body of a password grant",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"ann@example.com"},
				"password": {secPassword}, "client_id": {"app-a"}, "client_secret": {"wrong"}})
		},
		want: confWant{status: 401, header: map[string]string{"WWW-Authenticate": "Basic *", "Cache-Control": "no-store", "Set-Cookie": ""},
			body: map[string]any{"error": "invalid_client"}}},
	{item: "client-credentials", name: "client_secret in the body of a refresh grant",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {e.o.Refresh},
				"client_id": {"app-a"}, "client_secret": {"wrong"}})
		},
		want:  confWant{status: 401, header: map[string]string{"WWW-Authenticate": "Basic *"}, body: map[string]any{"error": "invalid_client"}},
		after: func(t *testing.T, e *confEnv, _ *secResponse) { confRefreshWorks(t, e, e.o.Refresh, "app-a") }},
	{item: "client-credentials", name: "client_secret in the body of a revocation",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/revoke", url.Values{"token": {e.o.Refresh}, "client_id": {"app-a"}, "client_secret": {"wrong"}})
		},
		want:  confWant{status: 401, header: map[string]string{"WWW-Authenticate": "Basic *"}, body: map[string]any{"error": "invalid_client"}},
		after: func(t *testing.T, e *confEnv, _ *secResponse) { confRefreshWorks(t, e, e.o.Refresh, "app-a") }},
	{item: "client-credentials", name: "client_secret in the body of an introspection",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/introspect", url.Values{"token": {e.v.Access}, "client_secret": {"wrong"}})
		},
		want: confWant{status: 401, header: map[string]string{"WWW-Authenticate": "Basic *"}, body: map[string]any{"error": "invalid_client"}}},
	{item: "client-credentials", name: "client_assertion on the token endpoint",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {e.o.Refresh}, "client_id": {"app-a"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {"eyJ.x.y"}})
		},
		want:  confWant{status: 401, header: map[string]string{"WWW-Authenticate": "Basic *"}, body: map[string]any{"error": "invalid_client"}},
		after: func(t *testing.T, e *confEnv, _ *secResponse) { confRefreshWorks(t, e, e.o.Refresh, "app-a") }},
	{item: "client-credentials", name: "a wrong secret in Basic",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {e.o.Refresh}}, basic("app-a", "wrong"))
		},
		want:  confWant{status: 401, header: map[string]string{"WWW-Authenticate": "Basic *"}, body: map[string]any{"error": "invalid_client"}},
		after: func(t *testing.T, e *confEnv, _ *secResponse) { confRefreshWorks(t, e, e.o.Refresh, "app-a") }},

	// 3. [metadata] The metadata advertises what works (RFC 8414 §2).
	{item: "metadata", name: "authentication methods in the metadata",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "GET", "/.well-known/oauth-authorization-server", "", "")
		},
		want: confWant{status: 200, body: map[string]any{"token_endpoint_auth_methods_supported": []any{"none"},
			"revocation_endpoint_auth_methods_supported": []any{"none"}, "introspection_endpoint_auth_methods_supported": []any{"none"}}}},

	// 4. [scope] A scope is refused until scopes exist (RFC 6749 §3.3, §5.2, §6).
	{item: "scope", name: "scope on a password grant",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {secPassword}, "scope": {"admin"}})
		},
		want: confWant{status: 400, header: map[string]string{"WWW-Authenticate": "", "Cache-Control": "no-store"}, body: map[string]any{"error": "invalid_scope"}}},
	{item: "scope", name: "scope on a refresh grant never granted",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {e.o.Refresh}, "client_id": {"app-a"}, "scope": {"admin"}})
		},
		want:  confWant{status: 400, body: map[string]any{"error": "invalid_scope"}},
		after: func(t *testing.T, e *confEnv, _ *secResponse) { confRefreshWorks(t, e, e.o.Refresh, "app-a") }},
	{item: "scope", name: "scope on the login URL",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/auth/login", url.Values{"email": {"ann@example.com"}, "password": {secPassword}, "scope": {"admin"}})
		},
		want: confWant{status: 400, body: map[string]any{"error": "invalid_scope"}}},
	{item: "scope", name: "an empty scope is no scope (control)",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {secPassword}, "scope": {""}})
		},
		want: confWant{status: 200, body: map[string]any{"token_type": "Bearer", "refresh_token": nil}}},

	// 5. [client-auth] Strict client authentication (RFC 6749 §2.3, §5.2).
	{item: "client-auth", name: "Basic and client_id at once",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {e.o.Refresh}, "client_id": {"app-a"}}, basic("app-a", ""))
		},
		want:  confWant{status: 400, header: map[string]string{"WWW-Authenticate": ""}, body: map[string]any{"error": "invalid_request"}},
		after: func(t *testing.T, e *confEnv, _ *secResponse) { confRefreshWorks(t, e, e.o.Refresh, "app-a") }},
	{item: "client-auth", name: "an Authorization header that is not Basic",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {secPassword}}, "Authorization: Basic !!!")
		},
		want: confWant{status: 401, header: map[string]string{"WWW-Authenticate": "Basic *"}, body: map[string]any{"error": "invalid_client"}}},
	{item: "client-auth", name: "a Bearer header on the token endpoint",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {e.o.Refresh}, "client_id": {"app-a"}},
				"Authorization: Bearer "+e.o.Access)
		},
		want:  confWant{status: 401, header: map[string]string{"WWW-Authenticate": "Basic *"}, body: map[string]any{"error": "invalid_client"}},
		after: func(t *testing.T, e *confEnv, _ *secResponse) { confRefreshWorks(t, e, e.o.Refresh, "app-a") }},
	{item: "client-auth", name: "a Bearer header on revocation",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/revoke", url.Values{"token": {e.v.Refresh}}, "Authorization: Bearer "+e.v.Access)
		},
		want: confWant{status: 401, body: map[string]any{"error": "invalid_client"}},
		after: func(t *testing.T, e *confEnv, _ *secResponse) {
			if s := secSession(t, e.s, e.v.SID); s.Revoked() {
				t.Fatal("the refused revocation revoked the session")
			}
		}},
	{item: "client-auth", name: "a resource server's Bearer header on introspection is let through (RFC 7662 §2.1)",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/introspect", url.Values{"token": {e.v.Access}}, "Authorization: Bearer "+e.o.Access)
		},
		want: confWant{status: 200, body: map[string]any{"active": true}}},
	{item: "client-auth", name: "Basic with the client id and an empty secret (control)",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {e.o.Refresh}}, basic("app-a", ""))
		},
		want: confWant{status: 200, body: map[string]any{"token_type": "Bearer", "refresh_token": nil, "expires_in": nil}}},

	// 6. [revocation-client] Revocation applies the refresh grant's client check (RFC 7009 §2.1).
	{item: "revocation-client", name: "another client revokes app-a's refresh token",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/revoke", url.Values{"token": {e.o.Refresh}, "client_id": {"app-b"}})
		},
		want:  confWant{status: 400, header: map[string]string{"Set-Cookie": ""}, body: map[string]any{"error": "unauthorized_client", "error_reason": "client_mismatch"}},
		after: func(t *testing.T, e *confEnv, _ *secResponse) { confRefreshWorks(t, e, e.o.Refresh, "app-a") }},
	{item: "revocation-client", name: "a request naming no client revokes app-a's access token",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/revoke", url.Values{"token": {e.o.Access}, "token_type_hint": {"access_token"}})
		},
		want:  confWant{status: 400, body: map[string]any{"error": "unauthorized_client", "error_reason": "client_mismatch"}},
		after: func(t *testing.T, e *confEnv, _ *secResponse) { confRefreshWorks(t, e, e.o.Refresh, "app-a") }},
	{item: "revocation-client", name: "app-a revokes its own token (control)",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/revoke", url.Values{"token": {e.o.Refresh}}, basic("app-a", ""))
		},
		want: confWant{status: 200, noBody: true, header: map[string]string{"Cache-Control": "no-store"}},
		after: func(t *testing.T, e *confEnv, _ *secResponse) {
			r := confPost(t, e, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {e.o.Refresh}, "client_id": {"app-a"}})
			if r.Status != 400 || !strings.Contains(string(r.Body), "session_revoked") {
				t.Fatalf("after revocation: %d %s", r.Status, r.Body)
			}
		}},

	// 7. [me-session] GET /auth/me checks the session (RFC 7009 §2.2).
	{item: "me-session", name: "/auth/me with a signed-out session's access token",
		do: func(t *testing.T, e *confEnv) *secResponse {
			if r := secMustDo(t, e.s, "POST", "/auth/sign-out", "", "", "Authorization: Bearer "+e.v.Access); r.Status != 204 {
				t.Fatalf("sign-out: %d %s", r.Status, r.Body)
			}
			return secMustDo(t, e.s, "GET", "/auth/me", "", "", "Authorization: Bearer "+e.v.Access)
		},
		want: confWant{status: 401, header: map[string]string{"WWW-Authenticate": `Bearer realm="latchkey", error="invalid_token"`, "Cache-Control": "no-store"},
			body: map[string]any{"error": "session_revoked"}}},
	{item: "me-session", name: "/auth/me of the login dialect with a revoked session's access token",
		cfg: func(c *config.Config) { c.Dialects = config.Dialects{"login", "oauth2", "cookie"} },
		do: func(t *testing.T, e *confEnv) *secResponse {
			if r := confPost(t, e, "/oauth/revoke", url.Values{"token": {e.o.Access}, "client_id": {"app-a"}}); r.Status != 200 {
				t.Fatalf("revoke: %d %s", r.Status, r.Body)
			}
			return secMustDo(t, e.s, "GET", "/auth/me", "", "", "Authorization: Bearer "+e.o.Access)
		},
		want: confWant{status: 401, header: map[string]string{"WWW-Authenticate": `Bearer realm="latchkey", error="invalid_token"`},
			body: map[string]any{"error": "invalid_token", "error_reason": "session_revoked"}}},
	{item: "me-session", name: "/auth/me with a live session's token (control)",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "GET", "/auth/me", "", "", "Authorization: Bearer "+e.v.Access)
		},
		want: confWant{status: 200, header: map[string]string{"Cache-Control": "no-store"}, body: map[string]any{"user": nil}}},

	// 8. [bearer-challenge] Every 401 of a bearer route carries a challenge (RFC 6750 §3),
	// without an error code when no token was sent (§3.1).
	{item: "bearer-challenge", name: "renewal without a token",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "POST", "/token/refresh", "", "")
		},
		want: confWant{status: 401, header: map[string]string{"WWW-Authenticate": `Bearer realm="latchkey"`}, body: map[string]any{"error": "invalid_token"}}},
	{item: "bearer-challenge", name: "renewal of a revoked session's token",
		do: func(t *testing.T, e *confEnv) *secResponse {
			secMustDo(t, e.s, "POST", "/auth/sign-out", "", "", "Authorization: Bearer "+e.v.Access)
			return secMustDo(t, e.s, "POST", "/token/refresh", "", "", "Authorization: Bearer "+e.v.Access)
		},
		want: confWant{status: 401, header: map[string]string{"WWW-Authenticate": `Bearer realm="latchkey", error="invalid_token"`},
			body: map[string]any{"error": "session_revoked"}}},
	{item: "bearer-challenge", name: "/auth/sessions with a revoked session's token",
		do: func(t *testing.T, e *confEnv) *secResponse {
			secMustDo(t, e.s, "POST", "/auth/sign-out", "", "", "Authorization: Bearer "+e.v.Access)
			return secMustDo(t, e.s, "GET", "/auth/sessions", "", "", "Authorization: Bearer "+e.v.Access)
		},
		want: confWant{status: 401, header: map[string]string{"WWW-Authenticate": `Bearer realm="latchkey", error="invalid_token"`},
			body: map[string]any{"error": "session_revoked"}}},
	{item: "bearer-challenge", name: "/auth/sessions without a token",
		do:   func(t *testing.T, e *confEnv) *secResponse { return secMustDo(t, e.s, "GET", "/auth/sessions", "", "") },
		want: confWant{status: 401, header: map[string]string{"WWW-Authenticate": `Bearer realm="latchkey"`}}},
	{item: "bearer-challenge", name: "Feathers sign-out without a token",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "DELETE", "/authentication", "", "")
		},
		want: confWant{status: 401, header: map[string]string{"WWW-Authenticate": `Bearer realm="latchkey"`}, body: map[string]any{"name": "NotAuthenticated"}}},

	// 9. [client-id-claim] at+jwt access tokens carry client_id (RFC 9068 §2.2).
	{item: "client-id-claim", name: "an OAuth client's access token names it",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return confPost(t, e, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {secPassword}, "client_id": {"app-z"}})
		},
		want: confWant{status: 200},
		after: func(t *testing.T, e *confEnv, r *secResponse) {
			var tk struct {
				AccessToken string `json:"access_token"`
			}
			_ = json.Unmarshal(r.Body, &tk)
			if c := secClaims(t, tk.AccessToken); c["client_id"] != "app-z" || c["gen"] != 1.0 {
				t.Fatalf("claims %v, want client_id app-z and gen 1", c)
			}
			if c := secClaims(t, e.v.Access); c["client_id"] != "latchkey" {
				t.Fatalf("a sign-in without a client: claims %v, want client_id latchkey", c)
			}
		}},

	// 10. [issuer-urls] The endpoints are built from PUBLIC_URL; the issuer is JWT_ISSUER.
	{item: "issuer-urls", name: "metadata with JWT_ISSUER and PUBLIC_URL",
		cfg: func(c *config.Config) {
			c.JWTIssuer, c.PublicURL = "https://id.example.com", "https://auth.example.com/lk"
		},
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "GET", "/.well-known/oauth-authorization-server", "", "")
		},
		want: confWant{status: 200, body: map[string]any{"issuer": "https://id.example.com", "token_endpoint": "https://auth.example.com/lk/oauth/token",
			"jwks_uri": "https://auth.example.com/lk/.well-known/jwks.json"}}},

	// 11. [error-description] error_description stays in RFC 6749 §5.2's characters, whatever
	// the input it quotes (checkConf checks every row's).
	{item: "error-description", name: "error_description of a repeated parameter with quotes and non-ASCII",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "POST", "/oauth/token", confForm, `a%22%5C%C3%A9%0A=1&a%22%5C%C3%A9%0A=2`)
		},
		want: confWant{status: 400, body: map[string]any{"error": "invalid_request", "error_description": `parameter 'a/'//?/n' is repeated`}}},
	{item: "error-description", name: "error_description of the login URL quoting its input",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "POST", "/auth/login", "application/json", `{"email":"a","password":"b","grant_type":"“x”"}`)
		},
		want: confWant{status: 400, body: map[string]any{"error": "unsupported_grant_type"}}},

	// 12. [method-not-allowed] A wrong method on a known path is 405 with Allow (RFC 9110
	// §15.5.6); an unknown path is still 404.
	{item: "method-not-allowed", name: "GET /oauth/token",
		do:   func(t *testing.T, e *confEnv) *secResponse { return secMustDo(t, e.s, "GET", "/oauth/token", "", "") },
		want: confWant{status: 405, header: map[string]string{"Allow": "POST"}, body: map[string]any{"error": "method_not_allowed"}}},
	{item: "method-not-allowed", name: "DELETE /auth/me",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "DELETE", "/auth/me", "", "", "Authorization: Bearer "+e.v.Access)
		},
		want: confWant{status: 405, header: map[string]string{"Allow": "GET, HEAD"}}},
	{item: "method-not-allowed", name: "PUT /token",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "PUT", "/token", "application/json", `{}`)
		},
		want: confWant{status: 405, header: map[string]string{"Allow": "POST"}}},
	{item: "method-not-allowed", name: "POST /healthz",
		do:   func(t *testing.T, e *confEnv) *secResponse { return secMustDo(t, e.s, "POST", "/healthz", "", "") },
		want: confWant{status: 405, header: map[string]string{"Allow": "GET, HEAD"}}},
	{item: "method-not-allowed", name: "GET /auth/sessions/{id}",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "GET", "/auth/sessions/"+e.v.SID, "", "")
		},
		want: confWant{status: 405, header: map[string]string{"Allow": "DELETE"}}},
	{item: "method-not-allowed", name: "an unknown path",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "POST", "/oauth/nothing", "", "")
		},
		want: confWant{status: 404, header: map[string]string{"Allow": ""}, body: map[string]any{"error": "not_found"}}},

	// 13. [docs-promises] The docs' promises: no-store on canonical token errors, the
	// login dialect's invalid_client without a challenge, and JSON bodies
	// held to the form parser's rules.
	{item: "docs-promises", name: "a refused refresh on POST /token is not cached",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "POST", "/token", "application/json", `{"refreshToken":"x.y.z"}`)
		},
		want: confWant{status: 400, header: map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache"}, body: map[string]any{"error": "refresh_token_invalid"}}},
	{item: "docs-promises", name: "a refused sign-in is not cached",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "POST", "/auth/sign-in", "application/json", `{"email":"ann@example.com","password":"wrong password"}`)
		},
		want: confWant{status: 401, header: map[string]string{"Cache-Control": "no-store", "WWW-Authenticate": ""}, body: map[string]any{"error": "invalid_credentials"}}},
	{item: "docs-promises", name: "the login URL's invalid_client has no challenge",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "POST", "/auth/login", "application/json", `{"email":"ann@example.com","password":"x","client_id":"s","client_secret":"y"}`)
		},
		want: confWant{status: 401, header: map[string]string{"WWW-Authenticate": ""}, body: map[string]any{"error": "invalid_client"}}},
	{item: "docs-promises", name: "a repeated member of a canonical body",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "POST", "/auth/sign-in", "application/json",
				`{"email":"ann@example.com","password":"wrong password","password":"`+secPassword+`"}`)
		},
		want: confWant{status: 400, body: map[string]any{"error": "invalid_request", "message": `field "password" is repeated`}}},
	{item: "docs-promises", name: "invalid UTF-8 in a canonical body",
		do: func(t *testing.T, e *confEnv) *secResponse {
			return secMustDo(t, e.s, "POST", "/auth/sign-up", "application/json", "{\"email\":\"b\xff@example.com\",\"password\":\"long enough\"}")
		},
		want: confWant{status: 400, body: map[string]any{"error": "invalid_request", "message": "request body is not valid UTF-8"}}},
}

func TestProtocolConformance(t *testing.T) {
	for _, c := range confCases {
		t.Run(c.item+" "+c.name, func(t *testing.T) {
			t.Parallel()
			e := confStart(t, c.cfg)
			got := c.do(t, e)
			checkConf(t, c.want, got)
			if c.after != nil && !t.Failed() {
				c.after(t, e, got)
			}
		})
	}
}

// confStart starts a server and signs ann in: canonically (with the
// refresh cookie) when that dialect is on, and through OAuth as app-a.
func confStart(t *testing.T, cfg func(*config.Config)) *confEnv {
	t.Helper()
	s := servertest.Start(t, cfg)
	e := &confEnv{s: s}
	if _, err := s.App.Service.SignUp(t.Context(), "ann@example.com", secPassword); err != nil {
		t.Fatal(err)
	}
	if s.App.Config.DialectEnabled("canonical") {
		r := secMustDo(t, s, "POST", "/auth/sign-in", "application/json", `{"email":"ann@example.com","password":"`+secPassword+`"}`)
		var tk struct{ AccessToken, RefreshToken string }
		if r.Status != 200 || json.Unmarshal(r.Body, &tk) != nil {
			t.Fatalf("sign-in: %d %s", r.Status, r.Body)
		}
		e.v = secTokens{Access: tk.AccessToken, Refresh: tk.RefreshToken, SID: secClaims(t, tk.RefreshToken)["sid"].(string)}
		for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
			e.cookie = ck.Name + "=" + ck.Value
		}
	}
	r := confPost(t, e, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {secPassword}, "client_id": {"app-a"}})
	var o struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if r.Status != 200 || json.Unmarshal(r.Body, &o) != nil {
		t.Fatalf("OAuth sign-in: %d %s", r.Status, r.Body)
	}
	e.o.Access, e.o.Refresh = o.AccessToken, o.RefreshToken
	return e
}

func checkConf(t *testing.T, w confWant, r *secResponse) {
	t.Helper()
	if r.Status != w.status {
		t.Fatalf("status %d, want %d: %s", r.Status, w.status, r.Body)
	}
	for k, v := range w.header {
		got, present := r.Header.Get(k), len(r.Header.Values(k)) > 0
		switch {
		case v == "" && present:
			t.Errorf("header %s: %q, want none", k, got)
		case strings.HasSuffix(v, "*") && !strings.HasPrefix(got, strings.TrimSuffix(v, "*")):
			t.Errorf("header %s: %q, want %s", k, got, v)
		case v != "" && !strings.HasSuffix(v, "*") && got != v:
			t.Errorf("header %s: %q, want %q", k, got, v)
		}
	}
	if w.noBody {
		if len(r.Body) != 0 {
			t.Errorf("body %q, want none", r.Body)
		}
		return
	}
	if w.body == nil && r.Status < 400 {
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.Body, err)
	}
	for k, v := range w.body {
		got, ok := m[k]
		switch {
		case !ok:
			t.Errorf("body %s: no member %q", r.Body, k)
		case v != nil && !jsonEqual(got, v):
			t.Errorf("body member %q = %v, want %v", k, got, v)
		}
	}
	// Every OAuth-shaped error description is in RFC 6749 §5.2's
	// characters, whichever row produced it.
	if d, ok := m["error_description"].(string); ok && !oauthDescription.MatchString(d) {
		t.Errorf("error_description %q has characters RFC 6749 §5.2 does not allow", d)
	}
}

func jsonEqual(a, b any) bool {
	if as, ok := a.([]any); ok {
		bs, ok := b.([]any)
		return ok && slices.EqualFunc(as, bs, func(x, y any) bool { return x == y })
	}
	return a == b
}
