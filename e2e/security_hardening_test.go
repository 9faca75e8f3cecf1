package e2e

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/server/servertest"
	"github.com/latchkey-dev/latchkey/token"
)

// The stolen-token rows of the hardening suite: what a thief
// holding one token could do on the previous code, each replayed through
// the real HTTP stack, and refused now. The folded-claim forgeries are rows
// of secAttacks (every route); the cross-site rows are in
// security_csrf_test.go; the IPv6 rate-limit key is server's
// TestIPv6KeyedByNetwork.

// A stolen access token renewed itself for as long as the victim kept the
// session alive (reproduced: 5.6 hours while the victim rotated 24 times).
// Now it carries the session's generation, and renewal stops at the
// victim's next refresh, with a machine-readable reason, while the victim's
// own tokens go on renewing.
func TestStolenAccessTokenStopsRenewingAtTheNextRefresh(t *testing.T) {
	s := servertest.Start(t, nil)
	v := secSignIn(t, s, "victim@example.com")
	renew := func(tok string) *secResponse {
		return secMustDo(t, s, "POST", "/token/refresh", "", "", "Authorization: Bearer "+tok)
	}
	stolen := v.Access
	// Before the victim refreshes, the copy renews (the session is at its
	// generation): it cannot be told from the victim.
	s.Clock.Advance(10 * time.Minute)
	r := renew(stolen)
	if r.Status != 200 {
		t.Fatalf("renewal before any refresh: %d %s", r.Status, r.Body)
	}
	var renewed struct{ AccessToken string }
	_ = jsonUnmarshal(r.Body, &renewed)
	if secClaims(t, renewed.AccessToken)["gen"] != 1.0 {
		t.Fatalf("the renewed token does not keep the generation: %v", secClaims(t, renewed.AccessToken))
	}
	// The victim's client refreshes, as it does every few minutes.
	current := v.Refresh
	var access string
	for i := range 3 {
		s.Clock.Advance(4 * time.Minute)
		r := secMustDo(t, s, "POST", "/token", "application/json", `{"refreshToken":"`+current+`"}`)
		var tk struct{ AccessToken, RefreshToken string }
		if r.Status != 200 || jsonUnmarshal(r.Body, &tk) != nil {
			t.Fatalf("victim's refresh %d: %d %s", i, r.Status, r.Body)
		}
		current, access = tk.RefreshToken, tk.AccessToken
		thief := []string{renewed.AccessToken} // valid until 25m
		if i == 0 {
			thief = append(thief, stolen) // valid until 15m
		}
		for _, tok := range thief {
			r := renew(tok)
			if r.Status != 401 || !strings.Contains(string(r.Body), `"access_token_superseded"`) ||
				r.Header.Get("WWW-Authenticate") != `Bearer realm="latchkey", error="invalid_token"` {
				t.Fatalf("renewal of the stolen token after the victim's refresh %d: %d %v %s", i, r.Status, r.Header, r.Body)
			}
		}
	}
	if r := renew(access); r.Status != 200 {
		t.Fatalf("the victim's current access token no longer renews: %d %s", r.Status, r.Body)
	}
	if sess := secSession(t, s, v.SID); sess.Revoked() || sess.Generation != 4 {
		t.Fatalf("the session after the refused renewals: %+v", sess)
	}
}

// An unauthenticated introspection of a refresh token answered active: true
// with its claims, so a thief could check whether a stolen refresh token was
// still current without spending it (which reuse detection would notice).
// Now a refresh token is exactly {"active":false}, current or superseded,
// and nothing is consumed; access tokens are still introspected.
func TestRefreshTokenIntrospectionTellsNothing(t *testing.T) {
	s := servertest.Start(t, nil)
	v := secSignIn(t, s, "victim@example.com")
	introspect := func(tok string) *secResponse {
		return secMustDo(t, s, "POST", "/oauth/introspect", confForm, url.Values{"token": {tok}}.Encode())
	}
	old := secSignIn(t, s, "victim@example.com")
	secMustDo(t, s, "POST", "/token", "application/json", `{"refreshToken":"`+old.Refresh+`"}`) // supersedes it
	for name, tok := range map[string]string{"current": v.Refresh, "superseded": old.Refresh} {
		if r := introspect(tok); r.Status != 200 || strings.TrimSpace(string(r.Body)) != `{"active":false}` {
			t.Errorf("%s refresh token: %d %s", name, r.Status, r.Body)
		}
	}
	if r := introspect(v.Access); !strings.Contains(string(r.Body), `"active":true`) {
		t.Fatalf("access token: %s", r.Body)
	}
	if sess := secSession(t, s, v.SID); sess.Generation != 1 || sess.Revoked() {
		t.Fatalf("introspection changed the session: %+v", sess)
	}
}

// A refresh token bound to a client_id was accepted when the request simply
// left client_id out. Now every front door that cannot name the client (no
// client_id, or a route without one: canonical, Feathers, the cookie)
// refuses it, and nothing rotates; the client itself still refreshes.
func TestClientBoundRefreshTokenNeedsItsClient(t *testing.T) {
	s := servertest.Start(t, nil)
	s.SignUp(t, "victim@example.com", secPassword)
	r := secMustDo(t, s, "POST", "/oauth/token", confForm,
		url.Values{"grant_type": {"password"}, "username": {"victim@example.com"}, "password": {secPassword}, "client_id": {"app-a"}}.Encode())
	var tk struct {
		RefreshToken string `json:"refresh_token"`
	}
	if r.Status != 200 || jsonUnmarshal(r.Body, &tk) != nil {
		t.Fatalf("sign-in: %d %s", r.Status, r.Body)
	}
	sid := secClaims(t, tk.RefreshToken)["sid"].(string)
	rt := tk.RefreshToken
	for name, send := range map[string]func() *secResponse{
		"OAuth without client_id": func() *secResponse {
			return secMustDo(t, s, "POST", "/oauth/token", confForm, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode())
		},
		"OAuth with another client_id": func() *secResponse {
			return secMustDo(t, s, "POST", "/oauth/token", confForm,
				url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"app-b"}}.Encode())
		},
		"login URL without client_id": func() *secResponse {
			return secMustDo(t, s, "POST", "/auth/login", "application/json", `{"grant_type":"refresh_token","refresh_token":"`+rt+`"}`)
		},
		"canonical": func() *secResponse {
			return secMustDo(t, s, "POST", "/token", "application/json", `{"refreshToken":"`+rt+`"}`)
		},
		"Feathers": func() *secResponse {
			return secMustDo(t, s, "POST", "/authentication", "application/json", `{"action":"refresh","refresh_token":"`+rt+`"}`)
		},
		"the cookie": func() *secResponse {
			return secMustDo(t, s, "GET", "/api/refresh/refreshtoken", "", "", "Cookie: refreshToken="+rt)
		},
	} {
		r := send()
		if r.Status != 400 && r.Status != 401 || !strings.Contains(string(r.Body), "refresh_token_invalid") {
			t.Errorf("%s: %d %s, want the refusal with refresh_token_invalid", name, r.Status, r.Body)
		}
	}
	if sess := secSession(t, s, sid); sess.Generation != 1 || sess.Revoked() {
		t.Fatalf("the refused refreshes changed the session: %+v", sess)
	}
	r = secMustDo(t, s, "POST", "/oauth/token", confForm, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"app-a"}}.Encode())
	if r.Status != 200 {
		t.Fatalf("the client's own refresh: %d %s", r.Status, r.Body)
	}
}

// A resource server verifying access tokens against the JWKS (RemoteKeys,
// the Authenticator) applies the folded-claim rule too: a token whose
// "ſub" would have replaced sub, signed with the server's own key as a
// claims hook copying user input would produce, is refused; the genuine
// token is accepted.
func TestRemoteVerifierRefusesFoldedClaims(t *testing.T) {
	s := servertest.Start(t, nil)
	v := secSignIn(t, s, "victim@example.com")
	other := secSignIn(t, s, "mallory@example.com")
	key, kid, _ := secServerKeys(t, s)
	a := latchkey.NewAuthenticator(latchkey.AuthOptions{Issuer: s.App.Config.Issuer(), Now: s.Clock.Now,
		Keys: latchkey.RemoteKeys(s.URL+"/.well-known/jwks.json", latchkey.RemoteOptions{Client: s.Client(), Now: s.Clock.Now})})
	check := func(tok string) error {
		r, _ := http.NewRequest("GET", "/api", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		_, err := a.Authenticate(r)
		return err
	}
	if err := check(other.Access); err != nil {
		t.Fatalf("genuine token: %v", err)
	}
	claims := secClaims(t, other.Access)
	for _, name := range []string{"ſub", "SUB", "Sub"} {
		forged := map[string]any{}
		for k, val := range claims {
			forged[k] = val
		}
		forged[name] = secClaims(t, v.Access)["sub"] // mallory's token, the victim's id
		tok := secSign(t, map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": kid}, forged, key)
		if err := check(tok); !errors.Is(err, token.ErrClaims) {
			t.Errorf("%s: %v, want token.ErrClaims", name, err)
		}
	}
}
