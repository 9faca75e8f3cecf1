package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// `latchkey user set-password EMAIL` (the password on standard input) does
// what a reset does while the server runs: the new password works, the old
// one no longer, and every session of the user is revoked.
func TestSetPasswordWhileServing(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "l.db")
	s := servertest.Start(t, func(c *config.Config) { c.DatabaseURL = db })
	a, b := s.SignIn(t, "ann@example.com", "old password 1"), s.SignIn(t, "ann@example.com", "old password 1")
	other := s.SignIn(t, "bob@example.com", "old password 1")
	code, out, errs := cli(t, "new password 2\n", "user", "set-password", "Ann@Example.com", "--database-url", db, "--log-level", "error")
	if code != 0 || !strings.Contains(out, "2 sessions revoked") {
		t.Fatalf("set-password: %d %q %q", code, out, errs)
	}
	for _, rt := range []string{a.RefreshToken, b.RefreshToken} {
		r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": rt})
		if r.Status != http.StatusBadRequest || r.Map(t)["error"] != "session_revoked" {
			t.Errorf("refresh after set-password: %d %s", r.Status, r.Body)
		}
	}
	if r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": other.RefreshToken}); r.Status != http.StatusOK {
		t.Errorf("another user's refresh: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": "ann@example.com", "password": "old password 1"}); r.Status != http.StatusUnauthorized {
		t.Errorf("old password: %d", r.Status)
	}
	if r := s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": "ann@example.com", "password": "new password 2"}); r.Status != http.StatusOK {
		t.Errorf("new password: %d %s", r.Status, r.Body)
	}
	if code, _, errs := cli(t, "", "user", "set-password", "ann@example.com", "--database-url", db); code == 0 || !strings.Contains(errs, "standard input") {
		t.Errorf("without a password: %d %q", code, errs)
	}
	if code, _, errs := cli(t, "short\n", "user", "set-password", "ann@example.com", "--database-url", db); code == 0 || !strings.Contains(errs, "at least 8") {
		t.Errorf("a short password: %d %q", code, errs)
	}
	if code, _, errs := cli(t, "new password 3\n", "user", "set-password", "nobody@example.com", "--database-url", db); code == 0 || errs == "" {
		t.Errorf("an unknown user: %d %q", code, errs)
	}
}
