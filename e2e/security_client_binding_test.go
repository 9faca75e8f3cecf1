package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// Attacks on the client binding (RFC 6749 §6, RFC 9700 §4.14): a session started
// with a client_id is revoked only by a request that names that client.

// secOAuthSignIn signs in through the password grant with client_id and
// returns the access and refresh tokens.
func secOAuthSignIn(t *testing.T, s *servertest.Server, email, clientID string) (access, refresh string) {
	t.Helper()
	r := secMustDo(t, s, "POST", "/oauth/token", confForm,
		url.Values{"grant_type": {"password"}, "username": {email}, "password": {secPassword}, "client_id": {clientID}}.Encode())
	var tk struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if r.Status != http.StatusOK || jsonUnmarshal(r.Body, &tk) != nil {
		t.Fatalf("sign-in as %q: %d %s", clientID, r.Status, r.Body)
	}
	return tk.AccessToken, tk.RefreshToken
}

// Access tokens of a session without a client carry client_id
// auth.DefaultClientID ("latchkey"), and revocation read that value as "no
// client". A client that names itself "latchkey" was therefore no client
// at all to revocation: any other client revoked its session through one of
// its access tokens. The binding comes from the session, not the claim.
func TestClientNamedLikeTheDefaultKeepsItsBinding(t *testing.T) {
	s := servertest.Start(t, nil)
	s.SignUp(t, "victim@example.com", secPassword)
	access, refresh := secOAuthSignIn(t, s, "victim@example.com", auth.DefaultClientID)
	sid := secClaims(t, refresh)["sid"].(string)
	for _, other := range []string{"evil", ""} {
		v := url.Values{"token": {access}, "token_type_hint": {"access_token"}}
		if other != "" {
			v.Set("client_id", other)
		}
		r := secMustDo(t, s, "POST", "/oauth/revoke", confForm, v.Encode())
		if r.Status != http.StatusBadRequest || secSession(t, s, sid).Revoked() {
			t.Fatalf("revocation by client %q: %d %s, session revoked: %v; want 400 unauthorized_client and the session live",
				other, r.Status, r.Body, secSession(t, s, sid).Revoked())
		}
	}
	r := secMustDo(t, s, "POST", "/oauth/revoke", confForm, url.Values{"token": {access}, "client_id": {auth.DefaultClientID}}.Encode())
	if r.Status != http.StatusOK || !secSession(t, s, sid).Revoked() {
		t.Fatalf("revocation by the session's own client: %d %s", r.Status, r.Body)
	}

	// A session without a client is still revoked by anyone holding its
	// access token, whatever client the request names.
	plain := secSignIn(t, s, "victim@example.com")
	r = secMustDo(t, s, "POST", "/oauth/revoke", confForm, url.Values{"token": {plain.Access}, "client_id": {"whoever"}}.Encode())
	if r.Status != http.StatusOK || !secSession(t, s, plain.SID).Revoked() {
		t.Fatalf("revocation of a session without a client: %d %s", r.Status, r.Body)
	}
}

// A client_id is stored with the session and printed as it is by `latchkey
// session list`: one with control characters (an ANSI escape that retitles
// the operator's terminal, rewrites the lines above, or hides the row) was
// accepted from anyone who can sign in. RFC 6749 Appendix A.1 allows only
// VSCHAR (%x20-7E) in a client_id; every front door that takes one refuses
// the rest with 400 invalid_request before anything is stored.
func TestClientIDOutsideVSCHARIsRefused(t *testing.T) {
	s := servertest.Start(t, nil)
	s.SignUp(t, "mallory@example.com", secPassword)
	for _, cid := range []string{"\x1b]0;pwned\x07app", "app\nsession 42 revoked", "app\x00", "app\x7f", "café", "\u202eppa"} {
		creds := url.Values{"username": {"mallory@example.com"}, "email": {"mallory@example.com"}, "password": {secPassword}, "client_id": {cid}}
		oauth := url.Values{"grant_type": {"password"}, "username": creds["username"], "password": creds["password"], "client_id": {cid}}
		for name, r := range map[string]*secResponse{
			"OAuth password grant": secMustDo(t, s, "POST", "/oauth/token", confForm, oauth.Encode()),
			"OAuth Basic":          secMustDo(t, s, "POST", "/oauth/token", confForm, url.Values{"grant_type": {"password"}, "username": creds["username"], "password": creds["password"]}.Encode(), "Authorization: Basic "+stdB64([]byte(url.QueryEscape(cid)+":"))),
			"login URL":            secMustDo(t, s, "POST", "/auth/login", confForm, url.Values{"email": creds["email"], "password": creds["password"], "client_id": {cid}}.Encode()),
			"login URL sign-up":    secMustDo(t, s, "POST", "/auth/signup", confForm, url.Values{"email": {"new@example.com"}, "password": creds["password"], "client_id": {cid}}.Encode()),
		} {
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "invalid_request") {
				t.Errorf("%s, client_id %q: %d %s; want 400 invalid_request", name, cid, r.Status, r.Body)
			}
		}
	}
	if _, err := s.App.Store.UserByEmail(t.Context(), "new@example.com"); err == nil {
		t.Error("a refused sign-up created the account")
	}
	// Every printable ASCII character is fine.
	if a, _ := secOAuthSignIn(t, s, "mallory@example.com", " !~app id:{x}/"); secClaims(t, a)["client_id"] != " !~app id:{x}/" {
		t.Fatalf("printable client_id: claims %v", secClaims(t, a))
	}
}
