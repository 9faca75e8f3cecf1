package main

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// cli runs the command line in-process with a fresh environment.
func cli(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// A refresh token of a user deactivated with `latchkey user deactivate
// EMAIL` while the server runs gets 400 with error details.
func TestDeactivateWhileServing(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "l.db")
	s := servertest.Start(t, func(c *config.Config) { c.DatabaseURL = db })
	tk := s.SignIn(t, "ann@example.com", "password123")
	code, out, errs := cli(t, "", "user", "deactivate", "ann@example.com", "--database-url", db, "--log-level", "error")
	if code != 0 || !strings.Contains(out, "inactive") {
		t.Fatalf("deactivate: %d %q %q", code, out, errs)
	}
	r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": tk.RefreshToken})
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"error"`) {
		t.Fatalf("refresh of a deactivated user: %d %s", r.Status, r.Body)
	}
	if code, out, _ := cli(t, "", "user", "activate", "ann@example.com", "--database-url", db); code != 0 || !strings.Contains(out, "active") {
		t.Fatalf("activate: %d %s", code, out)
	}
}

func TestUserSessionKeysPurgeCommands(t *testing.T) {
	db := "--database-url=sqlite://" + filepath.Join(t.TempDir(), "l.db")
	if code, out, errs := cli(t, "", "migrate", db); code != 0 || !strings.Contains(out, "migrations applied") {
		t.Fatalf("migrate: %d %s %s", code, out, errs)
	}
	if code, _, errs := cli(t, "s3cret-password\n", "user", "create", "Bob@Example.com", db); code != 0 {
		t.Fatalf("user create: %d %s", code, errs)
	}
	if code, _, errs := cli(t, "", "user", "create", "x@example.com", db); code == 0 || !strings.Contains(errs, "password") {
		t.Fatalf("user create without a password: %d %s", code, errs)
	}
	code, out, _ := cli(t, "", "user", "list", db)
	if code != 0 || !strings.Contains(out, "bob@example.com") || !strings.Contains(out, "active") {
		t.Fatalf("user list: %d %s", code, out)
	}
	code, out, _ = cli(t, "", "keys", "list", db)
	if code != 0 || strings.Count(out, "active") != 1 {
		t.Fatalf("keys list: %d %s", code, out)
	}
	if code, out, errs := cli(t, "", "keys", "rotate", db); code != 0 || !strings.Contains(out, "new active key") {
		t.Fatalf("keys rotate: %d %s %s", code, out, errs)
	}
	code, out, _ = cli(t, "", "keys", "list", db)
	if code != 0 || strings.Count(out, "active") != 1 || !strings.Contains(out, "retired, published until") {
		t.Fatalf("keys list after rotate: %d %s", code, out)
	}
	if code, out, _ := cli(t, "", "session", "list", db); code != 0 || !strings.Contains(out, "GENERATION") {
		t.Fatalf("session list: %d %s", code, out)
	}
	if code, _, errs := cli(t, "", "session", "revoke", "nope", db); code == 0 || !strings.Contains(errs, "no such session") {
		t.Fatalf("session revoke unknown: %d %s", code, errs)
	}
	if code, out, _ := cli(t, "", "purge", db); code != 0 || !strings.Contains(out, "purged") {
		t.Fatalf("purge: %d %s", code, out)
	}
}

func TestConfigCommandRedactsSecrets(t *testing.T) {
	t.Setenv("REFRESH_TOKEN_SECRET", strings.Repeat("s", 40))
	t.Setenv("DATABASE_URL", "postgres://app:hunter2hunter2@db:5432/latchkey")
	code, out, errs := cli(t, "", "config")
	if code != 0 {
		t.Fatalf("config: %d %s", code, errs)
	}
	if strings.Contains(out, "ssss") || strings.Contains(out, "hunter2") {
		t.Fatalf("secret printed:\n%s", out)
	}
	for _, want := range []string{"JWT_REFRESH_EXPIRES_IN", "24h", "REFRESH_TOKEN_SECRET", "[redacted]", "HTTP_ADDR"} {
		if !strings.Contains(out, want) {
			t.Fatalf("config output lacks %q:\n%s", want, out)
		}
	}
}

func TestInvalidSettingStopsWithOneLine(t *testing.T) {
	t.Setenv("JWT_REFRESH_EXPIRES_IN", "soon")
	code, _, errs := cli(t, "", "config")
	if code == 0 || !strings.Contains(errs, "JWT_REFRESH_EXPIRES_IN") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
		t.Fatalf("want a non-zero exit and one line naming the variable, got %d %q", code, errs)
	}
	t.Setenv("JWT_REFRESH_EXPIRES_IN", "30d")
	if code, out, _ := cli(t, "", "config"); code != 0 || !strings.Contains(out, "720h") {
		t.Fatalf("30d: %d %s", code, out)
	}
}

func TestProductionNeedsRefreshSecret(t *testing.T) {
	t.Setenv("APP_ENV", "production")
	code, _, errs := cli(t, "", "migrate", "--database-url=sqlite://"+filepath.Join(t.TempDir(), "x.db"))
	if code == 0 || !strings.Contains(errs, "REFRESH_TOKEN_SECRET") {
		t.Fatalf("production without a secret: %d %q", code, errs)
	}
}

func TestHelpEverywhere(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"user", "--help"}, {"user", "create", "--help"},
		{"user", "set-password", "--help"}, {"session", "--help"}, {"keys", "--help"}, {"purge", "--help"}, {"config", "--help"}, {"migrate", "--help"}} {
		code, out, _ := cli(t, "", args...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Fatalf("%v: %d %s", args, code, out)
		}
	}
	if code, _, errs := cli(t, "", "frobnicate"); code == 0 || errs == "" {
		t.Fatalf("unknown command: %d %q", code, errs)
	}
}
