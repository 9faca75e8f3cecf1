package server_test

import (
	"net/http"
	"testing"

	"github.com/latchkey-dev/latchkey/dpop"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// POST /auth/password with a DPoP-bound session's access token: with the
// DPoP scheme and a proof of the request by the session's key (RFC 9449
// section 7.1) the password changes; the same token sent as a bearer token,
// with or without a proof, is refused with invalid_token (RFC 9449 section
// 7.2: a bound token is no bearer token) and the password stays as it was.
func TestDPoPPasswordChange(t *testing.T) {
	s := servertest.Start(t, nil)
	const email = "dpop-password@example.com"
	d := dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}
	tr := dpopSignIn(t, s, d, email) // password123
	if tr.TokenType != "DPoP" {
		t.Fatalf("tokenType %q", tr.TokenType)
	}
	change := func(from, to string, hdr ...string) *servertest.Response {
		t.Helper()
		return s.Do(t, "POST", "/auth/password", map[string]any{"currentPassword": from, "newPassword": to}, hdr...)
	}
	proof := func() string {
		return "DPoP: " + d.proof(t, "POST", "/auth/password", dpop.ProofOptions{AccessToken: tr.AccessToken})
	}
	wantPassword := func(when, pw, old string) {
		t.Helper()
		if st, code := signInStatus(t, s, email, pw); st != http.StatusOK {
			t.Fatalf("%s: sign-in with %q: %d %s", when, pw, st, code)
		}
		if st, code := signInStatus(t, s, email, old); st != http.StatusUnauthorized || code != "invalid_credentials" {
			t.Fatalf("%s: sign-in with %q: %d %s, want 401 invalid_credentials", when, old, st, code)
		}
	}

	// As Bearer, no proof: refused, nothing changed.
	wantDPoPError(t, change("password123", pw1, bearer(tr.AccessToken)), http.StatusUnauthorized, "invalid_token", "")
	// As Bearer with a good proof: still refused.
	wantDPoPError(t, change("password123", pw1, bearer(tr.AccessToken), proof()), http.StatusUnauthorized, "invalid_token", "")
	// The DPoP scheme without a proof: refused.
	wantDPoPError(t, change("password123", pw1, "Authorization: DPoP "+tr.AccessToken), http.StatusUnauthorized, "invalid_dpop_proof", "missing")
	wantPassword("after the refused changes", "password123", pw1)

	// The DPoP scheme with a proof by the key: 204, the password changed,
	// the caller's bound session kept.
	if r := change("password123", pw1, "Authorization: DPoP "+tr.AccessToken, proof()); r.Status != http.StatusNoContent {
		t.Fatalf("change with DPoP: %d %s", r.Status, r.Body)
	}
	wantPassword("after the change", pw1, "password123")
	if sess := sessionOf(t, s.App.Store, tr.AccessToken); sess.Revoked() || !sess.Bound() {
		t.Fatalf("the caller's session after the change: %+v", sess)
	}

	// The same token as Bearer once more: refused, the new password stays.
	wantDPoPError(t, change(pw1, pw2, bearer(tr.AccessToken)), http.StatusUnauthorized, "invalid_token", "")
	wantPassword("after the refused bearer change", pw1, pw2)
}
