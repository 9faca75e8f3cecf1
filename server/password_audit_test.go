package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// TestPasswordAuditEvents: every step of the password lifecycle leaves its
// audit event with the user's id and the client IP (a reset request for an
// unknown address with an empty user id), and no password, token or e-mail
// address is in the server's log.
func TestPasswordAuditEvents(t *testing.T) {
	s, mp := withMail(t, func(c *config.Config) {
		c.RequireEmailVerification = true
		c.RateLimits = true
		c.RateLimitPasswordResetAccount = config.Rate{Count: 2, Per: time.Hour}
	})
	const email = "audited@example.com"
	if r := s.Do(t, "POST", "/auth/sign-up", map[string]string{"email": email, "password": pw1}); r.Status != http.StatusCreated {
		t.Fatalf("sign-up: %d", r.Status)
	}
	verify, _ := linkToken(t, mp, 1)
	s.Do(t, "POST", "/auth/verify", map[string]string{"token": verify})
	tk := s.SignIn(t, email, pw1)
	user := subOf(t, tk.AccessToken)
	s.Do(t, "POST", "/auth/password", map[string]any{"currentPassword": "a wrong guess", "newPassword": pw2}, bearer(tk.AccessToken))
	s.Do(t, "POST", "/auth/password", map[string]any{"currentPassword": pw1, "newPassword": pw2}, bearer(tk.AccessToken))
	s.Do(t, "POST", "/auth/recover", map[string]string{"email": "nobody@example.com"})
	s.Do(t, "POST", "/auth/recover", map[string]string{"email": email})
	reset, _ := linkToken(t, mp, 2)
	s.Do(t, "POST", "/auth/reset", map[string]string{"token": reset, "newPassword": pw1})
	s.Do(t, "POST", "/auth/recover", map[string]string{"email": email})
	s.Do(t, "POST", "/auth/recover", map[string]string{"email": email}) // the third: 429
	if _, err := s.App.Service.AdminSetPassword(t.Context(), email, pw2); err != nil {
		t.Fatal(err)
	}

	events := auditEvents(t, s)
	for _, w := range []struct {
		event  string
		fields map[string]string
	}{
		{"email.verification_requested", map[string]string{"user_id": user}},
		{"email.verified", map[string]string{"user_id": user, "ip": "127.0.0.1"}},
		{"password.change_failed", map[string]string{"user_id": user, "reason": "invalid_current_password", "ip": "127.0.0.1"}},
		{"password.changed", map[string]string{"user_id": user, "session_id": servertest.SessionID(t, tk.AccessToken), "ip": "127.0.0.1"}},
		{"password.reset_requested", map[string]string{"user_id": "", "ip": "127.0.0.1"}},
		{"password.reset_requested", map[string]string{"user_id": user, "ip": "127.0.0.1"}},
		{"password.reset", map[string]string{"user_id": user, "ip": "127.0.0.1"}},
		{"password.reset_rate_limited", map[string]string{"limit": "password_reset_account", "ip": "127.0.0.1"}},
		{"password.set_by_admin", map[string]string{"user_id": user}},
	} {
		e := findEvent(events, w.event, w.fields)
		if e == nil {
			t.Errorf("no audit event %s with %v", w.event, w.fields)
			continue
		}
		if strings.HasPrefix(w.event, "password.") && w.event != "password.change_failed" && !strings.HasSuffix(w.event, "_requested") &&
			!strings.HasSuffix(w.event, "_limited") && e["txn"] == "" {
			t.Errorf("%s without its txn: %v", w.event, e)
		}
	}
	logs := s.Logs.String()
	for _, secret := range []string{pw1, pw2, "a wrong guess", verify, reset, email, "nobody@example.com"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}
