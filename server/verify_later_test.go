package server_test

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// TestEmailVerificationTurnedOnLater: users who signed up through the
// public sign-up while REQUIRE_EMAIL_VERIFICATION was off count as
// verified once it is turned on (the service restarted on the same SQLite
// file with it): they sign in at once, and are sent no link. A user who
// signs up after the switch is refused with email_not_verified until the
// link is followed.
func TestEmailVerificationTurnedOnLater(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "later.db")
	const early, late = "early@example.com", "late@example.com"

	off := servertest.Start(t, func(c *config.Config) { c.DatabaseURL = db })
	off.SignUp(t, early, pw1)
	if st, code := signInStatus(t, off, early, pw1); st != http.StatusOK {
		t.Fatalf("sign-in with verification off: %d %s", st, code)
	}
	// Stop that service (its listener, then its store) before the restart.
	off.Close()
	if err := off.App.Close(); err != nil {
		t.Fatal(err)
	}

	on, mp := withMail(t, func(c *config.Config) { c.DatabaseURL, c.RequireEmailVerification = db, true })
	if st, code := signInStatus(t, on, early, pw1); st != http.StatusOK {
		t.Fatalf("a user from before the switch: %d %s, want 200", st, code)
	}
	if r := on.Do(t, "POST", "/auth/sign-up", map[string]string{"email": late, "password": pw1}); r.Status != http.StatusCreated {
		t.Fatalf("sign-up after the switch: %d %s", r.Status, r.Body)
	}
	if st, code := signInStatus(t, on, late, pw1); st != http.StatusForbidden || code != "email_not_verified" {
		t.Fatalf("a user from after the switch, before verifying: %d %s, want 403 email_not_verified", st, code)
	}
	tok, d := linkToken(t, mp, 1)
	if d.To[0].Address != late {
		t.Fatalf("the first message went to %v, want %s (none to a user from before the switch)", d.To, late)
	}
	if r := on.Do(t, "POST", "/auth/verify", map[string]string{"token": tok}); r.Status != http.StatusNoContent {
		t.Fatalf("verify: %d %s", r.Status, r.Body)
	}
	if st, code := signInStatus(t, on, late, pw1); st != http.StatusOK {
		t.Fatalf("a user from after the switch, verified: %d %s", st, code)
	}
	// The early user is still let in, after the late user's verification.
	if st, code := signInStatus(t, on, early, pw1); st != http.StatusOK {
		t.Fatalf("a user from before the switch, later: %d %s", st, code)
	}
}
