package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/dpop"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

const formType = "Content-Type: application/x-www-form-urlencoded"

// Every dialect that mints tokens binds with a proof and refuses a bound
// refresh without one, in its own error shape; introspection shows cnf.
func TestDPoPDialects(t *testing.T) {
	s := servertest.Start(t, nil)
	d := dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}
	jkt, _ := dpop.Thumbprint(d.key.Public())
	s.SignUp(t, "dialects@example.com", "password123")
	proof := func(method, path string) string { return "DPoP: " + d.proof(t, method, path, dpop.ProofOptions{}) }

	t.Run("oauth2", func(t *testing.T) {
		form := url.Values{"grant_type": {"password"}, "username": {"dialects@example.com"}, "password": {"password123"}}
		r := s.Do(t, "POST", "/oauth/token", form.Encode(), formType, proof("POST", "/oauth/token"))
		m := r.Map(t)
		if r.Status != http.StatusOK || m["token_type"] != "DPoP" {
			t.Fatalf("password grant with a proof: %d %s", r.Status, r.Body)
		}
		rt := m["refresh_token"].(string)
		refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()
		r = s.Do(t, "POST", "/oauth/token", refresh, formType)
		if m := r.Map(t); r.Status != http.StatusBadRequest || m["error"] != "invalid_dpop_proof" || m["dpop_reason"] != "missing" {
			t.Fatalf("refresh without a proof: %d %s", r.Status, r.Body)
		}
		r = s.Do(t, "POST", "/oauth/token", refresh, formType, proof("POST", "/oauth/token"))
		if m := r.Map(t); r.Status != http.StatusOK || m["token_type"] != "DPoP" {
			t.Fatalf("refresh with the proof: %d %s", r.Status, r.Body)
		}
		m = r.Map(t)
		at, rt := m["access_token"].(string), m["refresh_token"].(string)
		r = s.Do(t, "POST", "/oauth/introspect", url.Values{"token": {at}}.Encode(), formType)
		m = r.Map(t)
		if cnf, _ := m["cnf"].(map[string]any); r.Status != http.StatusOK || m["active"] != true || m["token_type"] != "DPoP" || cnf["jkt"] != jkt {
			t.Fatalf("introspection: %d %s", r.Status, r.Body)
		}
		// The token alone cannot revoke the bound session either.
		before := sessionOf(t, s.App.Store, at)
		revoke := url.Values{"token": {rt}}.Encode()
		r = s.Do(t, "POST", "/oauth/revoke", revoke, formType)
		if m := r.Map(t); r.Status != http.StatusBadRequest || m["error"] != "invalid_dpop_proof" || m["dpop_reason"] != "missing" {
			t.Fatalf("revocation without a proof: %d %s", r.Status, r.Body)
		}
		if got := sessionOf(t, s.App.Store, at); got != before {
			t.Fatalf("session changed by a refused revocation: %+v", got)
		}
		r = s.Do(t, "POST", "/oauth/revoke", revoke, formType, proof("POST", "/oauth/revoke"))
		if r.Status != http.StatusOK || !sessionOf(t, s.App.Store, at).Revoked() {
			t.Fatalf("revocation with the proof: %d %s", r.Status, r.Body)
		}
	})

	t.Run("login", func(t *testing.T) {
		form := url.Values{"email": {"dialects@example.com"}, "password": {"password123"}}
		r := s.Do(t, "POST", "/auth/login", form.Encode(), formType, proof("POST", "/auth/login"))
		m := r.Map(t)
		if r.Status != http.StatusOK || m["token_type"] != "DPoP" {
			t.Fatalf("login with a proof: %d %s", r.Status, r.Body)
		}
		refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}.Encode()
		r = s.Do(t, "POST", "/auth/login", refresh, formType, "DPoP: "+(dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}).proof(t, "POST", "/auth/login", dpop.ProofOptions{}))
		if m := r.Map(t); r.Status != http.StatusBadRequest || m["error"] != "invalid_dpop_proof" || m["error_reason"] != "key_mismatch" {
			t.Fatalf("refresh with another key: %d %s", r.Status, r.Body)
		}
		r = s.Do(t, "POST", "/auth/login", refresh, formType, proof("POST", "/auth/login"))
		if m := r.Map(t); r.Status != http.StatusOK || m["token_type"] != "DPoP" {
			t.Fatalf("refresh with the proof: %d %s", r.Status, r.Body)
		}
	})

	t.Run("cookie", func(t *testing.T) {
		r := s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": "dialects@example.com", "password": "password123"},
			proof("POST", "/auth/sign-in"))
		var cookie string
		for _, c := range r.Header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "refreshToken=") {
				cookie, _, _ = strings.Cut(c, ";")
			}
		}
		if r.Status != http.StatusOK || cookie == "" {
			t.Fatalf("sign-in: %d %s", r.Status, r.Body)
		}
		// The cookie alone no longer refreshes a bound session, and the
		// refusal does not clear it.
		r = s.Do(t, "GET", "/api/refresh/refreshtoken", nil, "Cookie: "+cookie)
		if m := r.Map(t); r.Status != http.StatusBadRequest || m["error"] != "invalid_dpop_proof" || m["reason"] != "missing" ||
			len(r.Header.Values("Set-Cookie")) != 0 {
			t.Fatalf("cookie refresh without a proof: %d %s %q", r.Status, r.Body, r.Header.Values("Set-Cookie"))
		}
		r = s.Do(t, "GET", "/api/refresh/refreshtoken", nil, "Cookie: "+cookie, proof("GET", "/api/refresh/refreshtoken"))
		if r.Status != http.StatusOK || claimsOf(t, r.Map(t)["accessToken"].(string))["cnf"] == nil {
			t.Fatalf("cookie refresh with a proof: %d %s", r.Status, r.Body)
		}
	})

	t.Run("feathers", func(t *testing.T) {
		r := s.Do(t, "POST", "/authentication", map[string]string{"strategy": "local", "email": "dialects@example.com", "password": "password123"},
			proof("POST", "/authentication"))
		m := r.Map(t)
		if r.Status != http.StatusCreated {
			t.Fatalf("local with a proof: %d %s", r.Status, r.Body)
		}
		at, rt := m["accessToken"].(string), m["refreshToken"].(string)
		if claimsOf(t, at)["cnf"] == nil {
			t.Fatal("feathers access token not bound")
		}
		r = s.Do(t, "POST", "/authentication", map[string]string{"action": "refresh", "refresh_token": rt})
		if m := r.Map(t); r.Status != http.StatusBadRequest || m["data"].(map[string]any)["dpopReason"] != "missing" {
			t.Fatalf("refresh without a proof: %d %s", r.Status, r.Body)
		}
		r = s.Do(t, "POST", "/authentication", map[string]string{"strategy": "jwt", "accessToken": at})
		if m := r.Map(t); r.Status != http.StatusBadRequest || m["data"].(map[string]any)["reason"] != "invalid_dpop_proof" {
			t.Fatalf("jwt strategy without a proof: %d %s", r.Status, r.Body)
		}
		r = s.Do(t, "POST", "/authentication", map[string]string{"strategy": "jwt", "accessToken": at},
			"DPoP: "+d.proof(t, "POST", "/authentication", dpop.ProofOptions{AccessToken: at}))
		if r.Status != http.StatusCreated {
			t.Fatalf("jwt strategy with a proof: %d %s", r.Status, r.Body)
		}
		r = s.Do(t, "DELETE", "/authentication", nil, "Authorization: Bearer "+at)
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("logout with the bound token as Bearer: %d %s", r.Status, r.Body)
		}
		r = s.Do(t, "DELETE", "/authentication", nil, "Authorization: DPoP "+at,
			"DPoP: "+d.proof(t, "DELETE", "/authentication", dpop.ProofOptions{AccessToken: at}))
		if r.Status != http.StatusOK {
			t.Fatalf("logout with DPoP: %d %s", r.Status, r.Body)
		}
	})
}
