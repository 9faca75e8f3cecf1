package e2e

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// Attacks on the client binding of issue #21 and #25.6: a session started
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
