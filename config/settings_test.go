package config

import (
	"strings"
	"testing"
)

func TestSettingsRedactsSecrets(t *testing.T) {
	c := mustLoad(t, nil, map[string]string{
		"APP_ENV":              "production",
		"REFRESH_TOKEN_SECRET": secret32,
		"JWT_ALGORITHM":        "HS256",
		"JWT_SECRET":           "jwt-" + secret32,
		"DATABASE_URL":         "postgres://latchkey:hunter2@db:5432/latchkey?sslmode=require",
		"REDIS_URL":            "redis://:swordfish@cache:6379/0",
		"SMTP_URL":             "smtps://mailer:tuna-fish@smtp.example.com:465",
		"MAIL_FROM":            "no-reply@example.com",
	})
	want := map[string]string{
		"REFRESH_TOKEN_SECRET": Redacted,
		"JWT_SECRET":           Redacted,
		"DATABASE_URL":         "postgres://latchkey:[redacted]@db:5432/latchkey?sslmode=require",
		"REDIS_URL":            "redis://:[redacted]@cache:6379/0",
		"SMTP_URL":             "smtps://mailer:[redacted]@smtp.example.com:465",
	}
	for _, s := range c.Settings() {
		for _, secret := range []string{secret32, "hunter2", "swordfish", "tuna-fish"} {
			if strings.Contains(s.Value, secret) {
				t.Errorf("%s = %q shows a secret", s.Env, s.Value)
			}
		}
		if w, ok := want[s.Env]; ok {
			if s.Value != w || !s.Secret {
				t.Errorf("%s = %q (secret %v); want %q (secret)", s.Env, s.Value, s.Secret, w)
			}
		} else if s.Secret {
			t.Errorf("%s is marked secret", s.Env)
		}
	}
	// Settings works on a copy: the configuration keeps its secrets.
	if c.RefreshTokenSecret != secret32 || !strings.Contains(c.DatabaseURL, "hunter2") {
		t.Error("Settings changed the configuration")
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"sqlite://latchkey.db", "sqlite://latchkey.db"},
		{"postgres://db/latchkey", "postgres://db/latchkey"},
		{"postgres://user@db/latchkey", "postgres://user@db/latchkey"},
		{"postgres://user:p%40ss@db/latchkey", "postgres://user:[redacted]@db/latchkey"},
		{"postgres://us%40er:pw@db/x", "postgres://us%40er:[redacted]@db/x"},
		{"postgres://db/latchkey?user=u&password=pw", "postgres://db/latchkey?password=[redacted]&user=u"},
		{"host=db password=pw", Redacted}, // a key=value DSN
		{"postgres:opaque-pw", Redacted},
		{"%zz", Redacted},
	}
	for _, tt := range tests {
		got := redactURL(tt.in)
		if got != tt.want {
			t.Errorf("redactURL(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestSettingsUnsetSecrets(t *testing.T) {
	for _, s := range mustLoad(t, nil, nil).Settings() {
		switch s.Env {
		case "REFRESH_TOKEN_SECRET", "JWT_SECRET":
			if s.Value != Unset {
				t.Errorf("%s = %q; want %q", s.Env, s.Value, Unset)
			}
		case "REDIS_URL":
			if s.Value != "" {
				t.Errorf("%s = %q; want empty", s.Env, s.Value)
			}
		}
	}
}

// Every setting is a variable and a flag of the same name, with help; the
// order is stable and starts with the listening address.
func TestSettingsShape(t *testing.T) {
	settings := mustLoad(t, nil, nil).Settings()
	if len(settings) < 35 || settings[0].Env != "HTTP_ADDR" {
		t.Fatalf("%d settings starting with %v", len(settings), settings[0])
	}
	seen := map[string]bool{}
	for _, s := range settings {
		if seen[s.Env] {
			t.Errorf("%s listed twice", s.Env)
		}
		seen[s.Env] = true
		if want := "--" + strings.ReplaceAll(strings.ToLower(s.Env), "_", "-"); s.Flag != want {
			t.Errorf("%s has flag %s; want %s", s.Env, s.Flag, want)
		}
		if s.Help == "" {
			t.Errorf("%s has no help", s.Env)
		}
		// Defaults are written the way values print, so the guide's
		// default column matches `latchkey config` on a fresh install.
		if !s.Secret && s.Value != s.Default {
			t.Errorf("%s: default %q prints as %q", s.Env, s.Default, s.Value)
		}
	}
	for _, env := range []string{"JWT_REFRESH_EXPIRES_IN", "JWT_EXPIRES_IN", "REFRESH_TOKEN_SECRET", "DATABASE_URL", "DIALECTS", "TRUSTED_PROXIES"} {
		if !seen[env] {
			t.Errorf("%s missing", env)
		}
	}
}
