package server_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// TestEmailVerification: with REQUIRE_EMAIL_VERIFICATION=on a sign-up is
// mailed a verification link and cannot sign in (403 email_not_verified)
// until it is followed; a resend voids the previous link; a user that
// existed before the setting was turned on signs in without verifying.
func TestEmailVerification(t *testing.T) {
	s, mp := withMail(t, func(c *config.Config) { c.RequireEmailVerification = true })
	// A user as one from before the setting is stored (EmailUnverified
	// false, the migration's default), made as latchkey user create makes
	// one.
	if _, err := s.App.Service.AdminCreateUser(t.Context(), "old@example.com", pw1); err != nil {
		t.Fatal(err)
	}
	if st, code := signInStatus(t, s, "old@example.com", pw1); st != 200 {
		t.Fatalf("a user from before the setting: %d %s", st, code)
	}

	const email = "new@example.com"
	if r := s.Do(t, "POST", "/auth/sign-up", map[string]string{"email": email, "password": pw1}); r.Status != http.StatusCreated {
		t.Fatalf("sign-up: %d %s", r.Status, r.Body)
	}
	first, d := linkToken(t, mp, 1)
	if d.Subject != "Confirm your e-mail address" || d.To[0].Address != email {
		t.Errorf("mail %+v", d)
	}
	if st, code := signInStatus(t, s, email, pw1); st != http.StatusForbidden || code != "email_not_verified" {
		t.Fatalf("sign-in before verifying: %d %s, want 403 email_not_verified", st, code)
	}
	if st, code := signInStatus(t, s, email, "wrong password"); st != http.StatusUnauthorized || code != "invalid_credentials" {
		t.Fatalf("a wrong password of an unverified user: %d %s (the reason is told only to who knows the password)", st, code)
	}
	if r := s.Do(t, "POST", "/auth/verify/resend", map[string]string{"email": email}); r.Status != http.StatusAccepted {
		t.Fatalf("resend: %d %s", r.Status, r.Body)
	}
	second, _ := linkToken(t, mp, 2)
	wantError(t, "the superseded link", s.Do(t, "POST", "/auth/verify", map[string]string{"token": first}),
		http.StatusBadRequest, "email_token_invalid")
	if r := s.Do(t, "POST", "/auth/verify", map[string]string{"token": second}); r.Status != http.StatusNoContent {
		t.Fatalf("verify: %d %s", r.Status, r.Body)
	}
	if st, code := signInStatus(t, s, email, pw1); st != 200 {
		t.Fatalf("sign-in after verifying: %d %s", st, code)
	}
	wantError(t, "the used link", s.Do(t, "POST", "/auth/verify", map[string]string{"token": second}),
		http.StatusBadRequest, "email_token_invalid")
	// A verified (or old) user asking for a link gets the same 202 and no mail.
	for _, e := range []string{email, "old@example.com", "nobody@example.com"} {
		if r := s.Do(t, "POST", "/auth/verify/resend", map[string]string{"email": e}); r.Status != http.StatusAccepted {
			t.Fatalf("resend %s: %d", e, r.Status)
		}
	}
	// A reset link proves the address too: a new unverified user who resets
	// the password can sign in.
	s.Do(t, "POST", "/auth/sign-up", map[string]string{"email": "resetter@example.com", "password": pw1})
	linkToken(t, mp, 3)
	s.Do(t, "POST", "/auth/recover", map[string]string{"email": "resetter@example.com"})
	reset, _ := linkToken(t, mp, 4)
	if r := s.Do(t, "POST", "/auth/reset", map[string]string{"token": reset, "newPassword": pw2}); r.Status != http.StatusNoContent {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	if st, code := signInStatus(t, s, "resetter@example.com", pw2); st != 200 {
		t.Fatalf("sign-in after a reset of an unverified user: %d %s", st, code)
	}
	time.Sleep(200 * time.Millisecond) // a real SMTP server: give a wrongly queued mail a moment to show
	if n := len(mp.Messages(t)); n != 4 {
		t.Errorf("%d messages, want 4 (no mail for verified or unknown addresses)", n)
	}
}

// TestMailInProductionWithoutSMTP: without SMTP_URL in production the
// e-mail routes answer 501 naming SMTP_URL, and start-up says so; password
// change still works.
func TestMailInProductionWithoutSMTP(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) {
		c.AppEnv, c.RefreshTokenSecret = config.EnvProduction, strings.Repeat("p", 32)
	})
	s.App.StartMail()
	if !strings.Contains(s.Logs.String(), "SMTP_URL is not set") {
		t.Errorf("start-up did not say that mail is off:\n%s", s.Logs.String())
	}
	for path, body := range map[string]map[string]string{
		"/auth/recover":       {"email": "someone@example.com"},
		"/auth/verify":        {"token": strings.Repeat("A", 43)},
		"/auth/verify/resend": {"email": "someone@example.com"},
	} {
		r := s.Do(t, "POST", path, body)
		if r.Status != http.StatusNotImplemented || r.Map(t)["error"] != "not_implemented" || !strings.Contains(r.Map(t)["message"].(string), "SMTP_URL") {
			t.Errorf("%s: %d %s, want 501 naming SMTP_URL", path, r.Status, r.Body)
		}
	}
	tk := s.SignIn(t, "prod@example.com", pw1)
	if r := s.Do(t, "POST", "/auth/password", map[string]any{"currentPassword": pw1, "newPassword": pw2}, bearer(tk.AccessToken)); r.Status != http.StatusNoContent {
		t.Errorf("change without mail: %d %s", r.Status, r.Body)
	}
}

// TestMailInDevelopmentWithoutSMTP: without SMTP_URL in development the
// link is written to the log, marked development-only, and works.
func TestMailInDevelopmentWithoutSMTP(t *testing.T) {
	s := servertest.Start(t, nil)
	s.App.StartMail()
	s.SignIn(t, "dev@example.com", pw1)
	if r := s.Do(t, "POST", "/auth/recover", map[string]string{"email": "dev@example.com"}); r.Status != http.StatusAccepted {
		t.Fatalf("recover: %d %s", r.Status, r.Body)
	}
	re := regexp.MustCompile(`"msg":"DEVELOPMENT ONLY[^"]*".*"mail_link":"[^"]*#reset=([A-Za-z0-9_-]{43})"`)
	var tok string
	for deadline := time.Now().Add(10 * time.Second); tok == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(s.Logs.String()); m != nil {
			tok = m[1]
		}
	}
	if tok == "" {
		t.Fatalf("no development link in the log:\n%s", s.Logs.String())
	}
	if r := s.Do(t, "POST", "/auth/reset", map[string]string{"token": tok, "newPassword": pw2}); r.Status != http.StatusNoContent {
		t.Fatalf("reset with the logged link: %d %s", r.Status, r.Body)
	}
}

// TestEmailNotVerifiedInEveryDialect: the sign-in of an unverified user is
// refused with the reason email_not_verified in each dialect's own shape,
// never a 500.
func TestEmailNotVerifiedInEveryDialect(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.RequireEmailVerification = true })
	s.App.StartMail() // development: the link goes to the log
	const email = "dialects@example.com"
	if r := s.Do(t, "POST", "/auth/sign-up", map[string]string{"email": email, "password": pw1}); r.Status != http.StatusCreated {
		t.Fatalf("sign-up: %d %s", r.Status, r.Body)
	}
	for _, c := range []struct {
		name, path string
		body       any
		ctype      string
		status     int
		field      func(map[string]any) any
	}{
		{"canonical", "/auth/sign-in", map[string]string{"email": email, "password": pw1}, "", http.StatusForbidden,
			func(m map[string]any) any { return m["error"] }},
		{"oauth2", "/oauth/token", "grant_type=password&username=" + email + "&password=" + strings.ReplaceAll(pw1, " ", "+"),
			"Content-Type: application/x-www-form-urlencoded", http.StatusBadRequest, func(m map[string]any) any { return m["error_reason"] }},
		{"login", "/auth/login", map[string]string{"email": email, "password": pw1}, "", http.StatusForbidden,
			func(m map[string]any) any { return m["error_reason"] }},
		{"feathers", "/authentication", map[string]string{"strategy": "local", "email": email, "password": pw1}, "", http.StatusForbidden,
			func(m map[string]any) any { return m["data"].(map[string]any)["reason"] }},
	} {
		var r *servertest.Response
		if c.ctype != "" {
			r = s.Do(t, "POST", c.path, c.body, c.ctype)
		} else {
			r = s.Do(t, "POST", c.path, c.body)
		}
		if r.Status != c.status || c.field(r.Map(t)) != "email_not_verified" {
			t.Errorf("%s: %d %s, want %d with reason email_not_verified", c.name, r.Status, r.Body, c.status)
		}
	}
}
