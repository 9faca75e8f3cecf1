package server_test

import (
	"fmt"
	"net/http"
	"testing"
)

// TestEmailWithInvisibleCharacters: an address holding a character that is
// a control (U+0085 NEL), a line or paragraph separator (U+2028) or an
// invisible format character (U+200B zero-width space, U+202E right-to-left
// override) is refused with 400 by every route that takes an address. net/mail
// reads such characters as ordinary letters of the local part, but the mail
// package refuses to write them into a message (they could break a header
// line), so before this rule sign-up created accounts that could never be
// sent a link, and POST /auth/recover answered them 500; the invisible ones
// make accounts that look like another's.
func TestEmailWithInvisibleCharacters(t *testing.T) {
	s, mp := withMail(t, nil)
	for _, email := range []string{"a\u0085b@example.com", "a\u2028b@example.com", "a\u2029b@example.com", "a\u200bb@example.com",
		"a\u202eb@example.com", "ann@exa\u00admple.com"} {
		wantError(t, fmt.Sprintf("recover %q", email), s.Do(t, "POST", "/auth/recover", map[string]string{"email": email}),
			http.StatusBadRequest, "invalid_request")
		wantError(t, fmt.Sprintf("sign-up %q", email), s.Do(t, "POST", "/auth/sign-up", map[string]string{"email": email, "password": pw1}),
			http.StatusBadRequest, "invalid_request")
		wantError(t, fmt.Sprintf("verify/resend %q", email), s.Do(t, "POST", "/auth/verify/resend", map[string]string{"email": email}),
			http.StatusBadRequest, "invalid_request")
	}
	// Letters outside ASCII are addresses like any other (RFC 6531).
	s.SignUp(t, "jos\u00e9@example.com", pw1)
	if r := s.Do(t, "POST", "/auth/recover", map[string]string{"email": "Jos\u00c9@example.com"}); r.Status != http.StatusAccepted {
		t.Fatalf("recover for an address with a non-ASCII letter: %d %s", r.Status, r.Body)
	}
	if tok, d := linkToken(t, mp, 1); tok == "" || len(d.To) != 1 || d.To[0].Address != "jos\u00e9@example.com" {
		t.Errorf("the reset mail went to %+v", d.To)
	}
}
