package oauth2_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	xoauth2 "golang.org/x/oauth2"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

const pw = "password123"

func form(s *servertest.Server, t *testing.T, path string, v url.Values, headers ...string) *servertest.Response {
	t.Helper()
	return s.Do(t, "POST", path, v.Encode(), append([]string{"Content-Type: application/x-www-form-urlencoded;charset=UTF-8"}, headers...)...)
}

func wantOAuthError(t *testing.T, r *servertest.Response, status int, code, reason string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	m := r.Map(t)
	if m["error"] != code || (reason != "" && m["error_reason"] != reason) || m["error_description"] == nil {
		t.Fatalf("body %s, want error %q reason %q", r.Body, code, reason)
	}
	if r.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("headers: %v", r.Header)
	}
	if status == 400 && r.Header.Get("WWW-Authenticate") != "" {
		t.Fatal("a 400 must not carry WWW-Authenticate")
	}
}

// golang.org/x/oauth2 as a real client: the password grant, then an
// automatic refresh through its TokenSource once the access token expires.
// The default AuthStyle auto-detection first sends HTTP Basic with an empty
// secret, which must work.
func TestGolangOAuth2Client(t *testing.T) {
	// expires_in 5s is inside x/oauth2's 10s expiry margin, so its next
	// Token() call refreshes at once: no sleeping for the token to expire.
	s := servertest.Start(t, func(c *config.Config) { c.JWTExpiresIn = config.Duration(5 * time.Second) })
	s.SignUp(t, "ann@example.com", pw)
	conf := &xoauth2.Config{ClientID: "cli", Endpoint: xoauth2.Endpoint{TokenURL: s.URL + "/oauth/token"}}
	ctx := context.WithValue(context.Background(), xoauth2.HTTPClient, s.Client())
	tok, err := conf.PasswordCredentialsToken(ctx, "ann@example.com", pw)
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("token: %+v", tok)
	}
	ts := conf.TokenSource(ctx, tok)
	tok2, err := ts.Token()
	if err != nil {
		t.Fatalf("automatic refresh: %v", err)
	}
	if tok2.AccessToken == tok.AccessToken || tok2.RefreshToken == tok.RefreshToken || tok2.RefreshToken == "" {
		t.Fatalf("TokenSource did not refresh: %+v", tok2)
	}
	// The refreshed access token is accepted by a protected route.
	client := xoauth2.NewClient(ctx, xoauth2.StaticTokenSource(tok2))
	resp, err := client.Get(s.URL + "/auth/me")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("me with the refreshed token: %v %v", resp, err)
	}
	resp.Body.Close()
	// The old refresh token is superseded; after the reuse interval it is an
	// RFC 6749 §5.2 invalid_grant that x/oauth2 surfaces as *RetrieveError.
	s.Clock.Advance(11 * time.Second)
	_, err = conf.TokenSource(ctx, &xoauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	re, ok := err.(*xoauth2.RetrieveError)
	if !ok || re.ErrorCode != "invalid_grant" {
		t.Fatalf("reused token: %v", err)
	}
}

// golang.org/x/oauth2 with a wrong client secret gets no tokens, whichever
// way it sends the secret: its auto-detection first sends HTTP Basic, then,
// after the 401, retries with the secret in the body, which used to be
// ignored and got tokens. Latchkey has only public clients, so
// every secret is refused with invalid_client, and a refused refresh
// consumes nothing.
func TestGolangOAuth2ClientWrongSecret(t *testing.T) {
	s := servertest.Start(t, nil)
	s.SignUp(t, "ann@example.com", pw)
	ctx := context.WithValue(context.Background(), xoauth2.HTTPClient, s.Client())
	endpoint := func(style xoauth2.AuthStyle) xoauth2.Endpoint {
		return xoauth2.Endpoint{TokenURL: s.URL + "/oauth/token", AuthStyle: style}
	}
	styles := map[string]xoauth2.AuthStyle{"auto-detect": xoauth2.AuthStyleAutoDetect, "header": xoauth2.AuthStyleInHeader, "params": xoauth2.AuthStyleInParams}
	for name, style := range styles {
		wrong := &xoauth2.Config{ClientID: "cli", ClientSecret: "wrong", Endpoint: endpoint(style)}
		_, err := wrong.PasswordCredentialsToken(ctx, "ann@example.com", pw)
		if re, ok := err.(*xoauth2.RetrieveError); !ok || re.ErrorCode != "invalid_client" || re.Response.StatusCode != 401 {
			t.Fatalf("%s, wrong secret, password grant: %v", name, err)
		}
	}
	good := &xoauth2.Config{ClientID: "cli", Endpoint: endpoint(xoauth2.AuthStyleInParams)}
	tok, err := good.PasswordCredentialsToken(ctx, "ann@example.com", pw)
	if err != nil {
		t.Fatal(err)
	}
	for name, style := range styles {
		wrong := &xoauth2.Config{ClientID: "cli", ClientSecret: "wrong", Endpoint: endpoint(style)}
		_, err := wrong.TokenSource(ctx, &xoauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if re, ok := err.(*xoauth2.RetrieveError); !ok || re.ErrorCode != "invalid_client" {
			t.Fatalf("%s, wrong secret, refresh: %v", name, err)
		}
	}
	// None of the refused refreshes spent the token: the public client
	// still refreshes with it, and gets a rotated one.
	tok2, err := good.TokenSource(ctx, &xoauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || tok2.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh after the refused ones: %+v, %v", tok2, err)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	s := servertest.Start(t, nil)
	s.SignUp(t, "ann@example.com", pw)
	wantOAuthError(t, form(s, t, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}), 400, "unsupported_grant_type", "")
	wantOAuthError(t, form(s, t, "/oauth/token", url.Values{}), 400, "invalid_request", "")
	wantOAuthError(t, form(s, t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}}), 400, "invalid_request", "")
	wantOAuthError(t, form(s, t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"garbage"}}), 400, "invalid_grant", "refresh_token_invalid")
	wantOAuthError(t, form(s, t, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {"nope-nope"}}), 400, "invalid_grant", "invalid_credentials")
	// A repeated parameter is invalid (RFC 6749 §3.2).
	r := s.Do(t, "POST", "/oauth/token", "grant_type=password&grant_type=refresh_token", "Content-Type: application/x-www-form-urlencoded")
	wantOAuthError(t, r, 400, "invalid_request", "")
	// A client secret: Latchkey has only public clients → 401 invalid_client,
	// and the refresh token is not consumed.
	r = form(s, t, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {pw}})
	var tk struct {
		RefreshToken string `json:"refresh_token"`
	}
	r.JSON(t, &tk)
	r = form(s, t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken}}, "Authorization: Basic Y2xpOnNlY3JldA==")
	if r.Status != 401 || r.Map(t)["error"] != "invalid_client" || r.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("confidential client: %d %v %s", r.Status, r.Header, r.Body)
	}
	if r := form(s, t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken}}); r.Status != 200 {
		t.Fatalf("the refresh token was consumed by a refused request: %d %s", r.Status, r.Body)
	}
	// JSON bodies are accepted too.
	r = s.Do(t, "POST", "/oauth/token", map[string]string{"grant_type": "password", "username": "ann@example.com", "password": pw})
	if r.Status != 200 {
		t.Fatalf("JSON body: %d %s", r.Status, r.Body)
	}
	m := r.Map(t)
	if m["token_type"] != "Bearer" || m["expires_in"] == nil || m["refresh_token"] == nil || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("token response: %v %s", r.Header, r.Body)
	}
	// Bad input never yields a 5xx.
	for _, b := range []struct{ body, ctype string }{
		{"{", "application/json"}, {`{"grant_type":["x"]}`, "application/json"}, {"a=%zz", "application/x-www-form-urlencoded"},
		{"x", "text/plain"}, {strings.Repeat("a=b&", 20000), "application/x-www-form-urlencoded"},
	} {
		r := s.Do(t, "POST", "/oauth/token", b.body, "Content-Type: "+b.ctype)
		if r.Status < 400 || r.Status >= 500 || r.Map(t)["error"] == nil {
			t.Errorf("%q: %d %s", b.body[:min(len(b.body), 20)], r.Status, r.Body)
		}
	}
}

func TestRevokeAndIntrospect(t *testing.T) {
	s := servertest.Start(t, nil)
	tk := s.SignIn(t, "ann@example.com", pw)
	r := form(s, t, "/oauth/introspect", url.Values{"token": {tk.AccessToken}})
	m := r.Map(t)
	if r.Status != 200 || m["active"] != true || m["token_use"] != "access" || m["sid"] == nil || m["sub"] == nil || m["exp"] == nil {
		t.Fatalf("introspect access: %d %s", r.Status, r.Body)
	}
	// No caller of this endpoint is an authenticated client, so a refresh
	// token is inactive whatever its state (RFC 7662 §2.1): a thief learns
	// nothing without spending it.
	if m := form(s, t, "/oauth/introspect", url.Values{"token": {tk.RefreshToken}}).Map(t); len(m) != 1 || m["active"] != false {
		t.Fatalf("introspect refresh: %v", m)
	}
	if m := form(s, t, "/oauth/introspect", url.Values{"token": {"garbage"}}).Map(t); len(m) != 1 || m["active"] != false {
		t.Fatalf("introspect garbage: %v", m)
	}
	// RFC 7009: 200 for an unknown token, 200 for a real one, and the
	// session's access tokens introspect inactive at once.
	if r := form(s, t, "/oauth/revoke", url.Values{"token": {"garbage"}}); r.Status != 200 {
		t.Fatalf("revoke unknown: %d", r.Status)
	}
	if r := form(s, t, "/oauth/revoke", url.Values{"token": {tk.RefreshToken}, "token_type_hint": {"refresh_token"}}); r.Status != 200 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	for _, tok := range []string{tk.AccessToken, tk.RefreshToken} {
		if m := form(s, t, "/oauth/introspect", url.Values{"token": {tok}}).Map(t); m["active"] != false {
			t.Fatalf("after revocation: %v", m)
		}
	}
	wantOAuthError(t, form(s, t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken}}), 400, "invalid_grant", "session_revoked")
	wantOAuthError(t, form(s, t, "/oauth/revoke", url.Values{}), 400, "invalid_request", "")
}

func TestMetadataAndJWKS(t *testing.T) {
	s := servertest.Start(t, nil)
	r := s.Do(t, "GET", "/.well-known/oauth-authorization-server", nil)
	var md map[string]any
	r.JSON(t, &md)
	if md["issuer"] != s.URL || md["token_endpoint"] != s.URL+"/oauth/token" || md["jwks_uri"] != s.URL+"/.well-known/jwks.json" {
		t.Fatalf("RFC 8414 issuer must equal the base URL the client used (%s): %s", s.URL, r.Body)
	}
	if _, ok := md["response_types_supported"]; !ok {
		t.Fatal("response_types_supported is required")
	}
	r = s.Do(t, "GET", "/.well-known/jwks.json", nil)
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(r.Body, &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["kty"] != "EC" || set.Keys[0]["d"] != nil {
		t.Fatalf("JWKS: %s", r.Body)
	}
	// The access token's kid is in the JWKS.
	tk := s.SignIn(t, "ann@example.com", pw)
	if !strings.Contains(string(r.Body), s.App.Tokens.ActiveKeyID()) || tk.AccessToken == "" {
		t.Fatal("active kid not published")
	}
}

func TestDialectsOff(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.Dialects = config.Dialects{"canonical"} })
	if r := form(s, t, "/oauth/token", url.Values{"grant_type": {"password"}}); r.Status != http.StatusNotFound {
		t.Fatalf("oauth2 off: %d", r.Status)
	}
	s = servertest.Start(t, func(c *config.Config) { c.Dialects = config.Dialects{"oauth2"} })
	if r := s.Do(t, "POST", "/auth/sign-in", map[string]string{}); r.Status != http.StatusNotFound {
		t.Fatalf("canonical off: %d", r.Status)
	}
}
