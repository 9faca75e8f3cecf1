package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/dpop"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// Bearer renewal (POST /token/refresh) of a DPoP-bound access token: the
// route authenticates the caller and checks its proof once, then renews
// for it. Every refusal of the token or the proof comes first, and the
// session checks of renewal still apply.
func TestDPoPBoundRenewalRefusals(t *testing.T) {
	s := servertest.Start(t, nil)
	d := dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}
	thief := dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}
	tr := dpopSignIn(t, s, d, "bound-renewal@example.com")
	ath := func(tok string) dpop.ProofOptions { return dpop.ProofOptions{AccessToken: tok} }
	renew := func(hdr ...string) *servertest.Response { return s.Do(t, "POST", "/token/refresh", nil, hdr...) }

	t.Run("no proof", func(t *testing.T) {
		r := renew("Authorization: DPoP " + tr.AccessToken)
		wantDPoPError(t, r, http.StatusUnauthorized, "invalid_dpop_proof", "missing")
		wantChallenge(t, r, `DPoP error="invalid_dpop_proof"`)
	})
	t.Run("as Bearer", func(t *testing.T) {
		r := renew("Authorization: Bearer "+tr.AccessToken, "DPoP: "+d.proof(t, "POST", "/token/refresh", ath(tr.AccessToken)))
		wantDPoPError(t, r, http.StatusUnauthorized, "invalid_token", "")
	})
	t.Run("another key", func(t *testing.T) {
		r := renew("Authorization: DPoP "+tr.AccessToken, "DPoP: "+thief.proof(t, "POST", "/token/refresh", ath(tr.AccessToken)))
		wantDPoPError(t, r, http.StatusUnauthorized, "invalid_dpop_proof", "key_mismatch")
	})
	t.Run("no ath", func(t *testing.T) {
		r := renew("Authorization: DPoP "+tr.AccessToken, "DPoP: "+d.proof(t, "POST", "/token/refresh", dpop.ProofOptions{}))
		wantDPoPError(t, r, http.StatusUnauthorized, "invalid_dpop_proof", "ath")
	})
	t.Run("another route", func(t *testing.T) {
		r := renew("Authorization: DPoP "+tr.AccessToken, "DPoP: "+d.proof(t, "POST", "/auth/me", ath(tr.AccessToken)))
		wantDPoPError(t, r, http.StatusUnauthorized, "invalid_dpop_proof", "htu")
	})
	t.Run("replayed", func(t *testing.T) {
		p := d.proof(t, "POST", "/token/refresh", ath(tr.AccessToken))
		if r := renew("Authorization: DPoP "+tr.AccessToken, "DPoP: "+p); r.Status != http.StatusOK {
			t.Fatalf("renewal: %d %s", r.Status, r.Body)
		}
		r := renew("Authorization: DPoP "+tr.AccessToken, "DPoP: "+p)
		wantDPoPError(t, r, http.StatusUnauthorized, "invalid_dpop_proof", "replay")
	})

	// The key holder refreshes: the access token from before is superseded.
	old := tr.AccessToken
	r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": tr.RefreshToken}, "DPoP: "+d.proof(t, "POST", "/token", dpop.ProofOptions{}))
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &tr)
	t.Run("superseded", func(t *testing.T) {
		r := renew("Authorization: DPoP "+old, "DPoP: "+d.proof(t, "POST", "/token/refresh", ath(old)))
		if r.Status < 400 || !strings.Contains(string(r.Body), "superseded") {
			t.Fatalf("renewal of a superseded token: %d %s", r.Status, r.Body)
		}
	})
	// Deactivated user: refused (and the session revoked).
	sid := sessionOf(t, s.App.Store, tr.AccessToken)
	if _, err := s.App.Store.DeactivateUser(t.Context(), sid.UserID, "test", s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	t.Run("inactive user", func(t *testing.T) {
		r := renew("Authorization: DPoP "+tr.AccessToken, "DPoP: "+d.proof(t, "POST", "/token/refresh", ath(tr.AccessToken)))
		if r.Status < 400 || r.Status >= 500 {
			t.Fatalf("renewal for an inactive user: %d %s", r.Status, r.Body)
		}
	})
}

// ACCESS_TOKEN_RENEWAL=off: 501 only for a caller who proves the token,
// its key included; anyone else learns nothing of the setting.
func TestDPoPBoundRenewalOff(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.AccessTokenRenewal = false })
	d := dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}
	thief := dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}
	tr := dpopSignIn(t, s, d, "bound-renewal-off@example.com")
	ath := dpop.ProofOptions{AccessToken: tr.AccessToken}
	for name, hdr := range map[string][]string{
		"no token":    nil,
		"forged":      {"Authorization: DPoP x.y.z", "DPoP: " + d.proof(t, "POST", "/token/refresh", dpop.ProofOptions{AccessToken: "x.y.z"})},
		"no proof":    {"Authorization: DPoP " + tr.AccessToken},
		"another key": {"Authorization: DPoP " + tr.AccessToken, "DPoP: " + thief.proof(t, "POST", "/token/refresh", ath)},
		"as Bearer":   {"Authorization: Bearer " + tr.AccessToken},
	} {
		if r := s.Do(t, "POST", "/token/refresh", nil, hdr...); r.Status != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", name, r.Status, r.Body)
		}
	}
	r := s.Do(t, "POST", "/token/refresh", nil, "Authorization: DPoP "+tr.AccessToken, "DPoP: "+d.proof(t, "POST", "/token/refresh", ath))
	if r.Status != http.StatusNotImplemented {
		t.Fatalf("proven caller: %d %s, want 501", r.Status, r.Body)
	}
}

func wantChallenge(t testing.TB, r *servertest.Response, want string) {
	t.Helper()
	for _, v := range r.Header.Values("WWW-Authenticate") {
		if strings.HasPrefix(v, want) {
			return
		}
	}
	t.Errorf("WWW-Authenticate %q; want one starting %q", r.Header.Values("WWW-Authenticate"), want)
}
