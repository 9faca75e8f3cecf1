package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidateRejects(t *testing.T) {
	prod := func(kv ...string) map[string]string {
		env := map[string]string{"APP_ENV": "production", "REFRESH_TOKEN_SECRET": secret32}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	tests := []struct {
		name string
		env  map[string]string
		want string // the variable the error must name
		msg  string // and a part of its message
	}{
		{"production needs a refresh secret", map[string]string{"APP_ENV": "production"}, "REFRESH_TOKEN_SECRET", "required when APP_ENV=production"},
		{"short refresh secret", map[string]string{"REFRESH_TOKEN_SECRET": "short"}, "REFRESH_TOKEN_SECRET", "too short: 5 bytes"},
		{"production HS256 needs a JWT secret", prod("JWT_ALGORITHM", "HS256"), "JWT_SECRET", "required with JWT_ALGORITHM=HS256"},
		{"JWT secret without HS256", map[string]string{"JWT_SECRET": secret32}, "JWT_SECRET", "used only with HS256"},
		{"short JWT secret", map[string]string{"JWT_ALGORITHM": "HS256", "JWT_SECRET": "abc"}, "JWT_SECRET", "too short"},
		{"unknown environment", map[string]string{"APP_ENV": "staging"}, "APP_ENV", `invalid value "staging"`},
		{"unknown algorithm", map[string]string{"JWT_ALGORITHM": "none"}, "JWT_ALGORITHM", `invalid value "none"`},
		{"zero access lifetime", map[string]string{"JWT_EXPIRES_IN": "0s"}, "JWT_EXPIRES_IN", "greater than 0"},
		{"zero refresh lifetime", map[string]string{"JWT_REFRESH_EXPIRES_IN": "0"}, "JWT_REFRESH_EXPIRES_IN", "greater than 0"},
		{"zero session cap", map[string]string{"SESSION_MAX_LIFETIME": "0"}, "SESSION_MAX_LIFETIME", "greater than 0"},
		{"refresh longer than session", map[string]string{"JWT_REFRESH_EXPIRES_IN": "31d"}, "JWT_REFRESH_EXPIRES_IN", "longer than SESSION_MAX_LIFETIME (720h)"},
		{"zero key reload", map[string]string{"KEY_RELOAD_INTERVAL": "0"}, "KEY_RELOAD_INTERVAL", "greater than 0"},
		{"zero shutdown", map[string]string{"SHUTDOWN_TIMEOUT": "0"}, "SHUTDOWN_TIMEOUT", "greater than 0"},
		{"zero conn lifetime", map[string]string{"DATABASE_MAX_CONN_LIFETIME": "0"}, "DATABASE_MAX_CONN_LIFETIME", "greater than 0"},
		{"negative sessions", map[string]string{"MAX_SESSIONS_PER_USER": "-1"}, "MAX_SESSIONS_PER_USER", "negative"},
		{"unknown DPoP policy", map[string]string{"DPOP": "maybe"}, "DPOP", `invalid value "maybe"`},
		{"zero proof lifetime", map[string]string{"DPOP_PROOF_LIFETIME": "0"}, "DPOP_PROOF_LIFETIME", "greater than 0"},
		{"long proof lifetime", map[string]string{"DPOP_PROOF_LIFETIME": "1h"}, "DPOP_PROOF_LIFETIME", "longer than 10m"},
		{"no connections", map[string]string{"DATABASE_MAX_CONNS": "0"}, "DATABASE_MAX_CONNS", "at least 1"},
		{"min over max", map[string]string{"DATABASE_MIN_CONNS": "20"}, "DATABASE_MIN_CONNS", "more than DATABASE_MAX_CONNS"},
		{"schema not a plain name", map[string]string{"DATABASE_SCHEMA": "Auth;drop"}, "DATABASE_SCHEMA", "lower-case SQL identifier"},
		{"negative hash concurrency", map[string]string{"PASSWORD_HASH_CONCURRENCY": "-2"}, "PASSWORD_HASH_CONCURRENCY", "negative"},
		{"bad address", map[string]string{"HTTP_ADDR": "8080"}, "HTTP_ADDR", "want host:port"},
		{"relative public URL", map[string]string{"PUBLIC_URL": "auth.example.com"}, "PUBLIC_URL", "scheme must be http or https"},
		{"public URL with query", map[string]string{"PUBLIC_URL": "https://auth.example.com/?x=1"}, "PUBLIC_URL", "no user, query or fragment"},
		{"unknown database", map[string]string{"DATABASE_URL": "mysql://u:hunter2@db/latchkey"}, "DATABASE_URL", `unsupported scheme "mysql"`},
		{"empty sqlite path", map[string]string{"DATABASE_URL": "sqlite://"}, "DATABASE_URL", "no database file"},
		{"unknown redis", map[string]string{"REDIS_URL": "memcached://cache:11211"}, "REDIS_URL", "unsupported scheme"},
		{"empty audience", map[string]string{"JWT_AUDIENCE": ""}, "JWT_AUDIENCE", "must not be empty"},
		{"bad cookie name", map[string]string{"REFRESH_COOKIE_NAME": "refresh token"}, "REFRESH_COOKIE_NAME", "invalid cookie name"},
		{"unknown log level", map[string]string{"LOG_LEVEL": "trace"}, "LOG_LEVEL", `invalid value "trace"`},
		{"SMTP URL of another scheme", map[string]string{"SMTP_URL": "http://mail:25", "MAIL_FROM": "a@example.com"}, "SMTP_URL", "unsupported scheme"},
		{"SMTP URL without sender", map[string]string{"SMTP_URL": "smtp://mail:25"}, "MAIL_FROM", "required with SMTP_URL"},
		{"sender with a line break", map[string]string{"MAIL_FROM": "a@example.com\r\nBcc: v@example.com"}, "MAIL_FROM", "control character"},
		{"sender list", map[string]string{"MAIL_FROM": "a@example.com, b@example.com"}, "MAIL_FROM", "not an e-mail address"},
		{"relative reset URL", map[string]string{"PASSWORD_RESET_URL": "/reset#token="}, "PASSWORD_RESET_URL", "absolute URL"},
		{"plain reset URL in production", prod("PASSWORD_RESET_URL", "http://app.example.com/reset#token="), "PASSWORD_RESET_URL", "must be https"},
		{"verification URL of another scheme", map[string]string{"EMAIL_VERIFICATION_URL": "javascript:alert(1)//"}, "EMAIL_VERIFICATION_URL", "absolute URL"},
		{"zero reset lifetime", map[string]string{"PASSWORD_RESET_EXPIRES_IN": "0"}, "PASSWORD_RESET_EXPIRES_IN", "greater than 0"},
		{"zero send timeout", map[string]string{"MAIL_SEND_TIMEOUT": "0"}, "MAIL_SEND_TIMEOUT", "greater than 0"},
		{"backoff max under backoff", map[string]string{"MAIL_RETRY_BACKOFF": "1m", "MAIL_RETRY_BACKOFF_MAX": "30s"}, "MAIL_RETRY_BACKOFF_MAX", "shorter than MAIL_RETRY_BACKOFF"},
		{"verification in production without mail", prod("REQUIRE_EMAIL_VERIFICATION", "on"), "REQUIRE_EMAIL_VERIFICATION", "needs SMTP_URL"},
		{"unknown log format", map[string]string{"LOG_FORMAT": "logfmt"}, "LOG_FORMAT", `invalid value "logfmt"`},
		// JWT_ISSUER is the RFC 8414 issuer: endpoint URLs are built on it
		// ("latchkey" made "latchkey/oauth/token", a trailing slash "//").
		{"issuer without scheme", map[string]string{"JWT_ISSUER": "latchkey"}, "JWT_ISSUER", "want an absolute URL"},
		{"issuer URN", map[string]string{"JWT_ISSUER": "urn:example:latchkey"}, "JWT_ISSUER", "want an absolute URL"},
		{"issuer trailing slash", map[string]string{"JWT_ISSUER": "https://auth.example.com/"}, "JWT_ISSUER", "remove the trailing slash"},
		{"issuer with query", map[string]string{"JWT_ISSUER": "https://auth.example.com?tenant=1"}, "JWT_ISSUER", "no user, query or fragment"},
		{"issuer with fragment", map[string]string{"JWT_ISSUER": "https://auth.example.com#x"}, "JWT_ISSUER", "no user, query or fragment"},
		{"issuer without host", map[string]string{"JWT_ISSUER": "https:///auth"}, "JWT_ISSUER", "no host"},
		{"issuer ftp", map[string]string{"JWT_ISSUER": "ftp://auth.example.com"}, "JWT_ISSUER", "scheme must be http or https"},
		{"production issuer over http", prod("JWT_ISSUER", "http://auth.example.com"), "JWT_ISSUER", "requires https"},
		{"IPv6 prefix too short", map[string]string{"RATE_LIMIT_IPV6_PREFIX": "16"}, "RATE_LIMIT_IPV6_PREFIX", "between 32 and 128"},
		{"IPv6 prefix too long", map[string]string{"RATE_LIMIT_IPV6_PREFIX": "129"}, "RATE_LIMIT_IPV6_PREFIX", "between 32 and 128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(nil, tt.env)
			var problem *Error
			if !errors.As(err, &problem) {
				t.Fatalf("Load: error %v; want a *config.Error", err)
			}
			if problem.Env != tt.want || !strings.HasPrefix(err.Error(), tt.want+": ") || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q; want it to start with %s: and contain %q", err, tt.want, tt.msg)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), secret32) {
				t.Errorf("error %q repeats a secret", err)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"production with a secret", map[string]string{"APP_ENV": "production", "REFRESH_TOKEN_SECRET": secret32}},
		{"production HS256", map[string]string{"APP_ENV": "production", "REFRESH_TOKEN_SECRET": secret32, "JWT_ALGORITHM": "HS256", "JWT_SECRET": secret32}},
		{"development HS256 without a secret (generated)", map[string]string{"JWT_ALGORITHM": "HS256"}},
		{"reuse interval may be 0", map[string]string{"REFRESH_TOKEN_REUSE_INTERVAL": "0"}},
		{"access may outlive refresh", map[string]string{"JWT_EXPIRES_IN": "2d", "JWT_REFRESH_EXPIRES_IN": "1d"}},
		{"refresh equal to session", map[string]string{"JWT_REFRESH_EXPIRES_IN": "30d", "SESSION_MAX_LIFETIME": "30d"}},
		{"unlimited sessions", map[string]string{"MAX_SESSIONS_PER_USER": "0"}},
		{"DPoP required with nonces", map[string]string{"DPOP": "required", "DPOP_NONCE": "on", "DPOP_PROOF_LIFETIME": "30s"}},
		{"DPoP off", map[string]string{"DPOP": "off"}},
		{"postgres", map[string]string{"DATABASE_URL": "postgres://latchkey:pw@db:5432/latchkey?sslmode=require"}},
		{"postgresql", map[string]string{"DATABASE_URL": "postgresql://db/latchkey"}},
		{"absolute sqlite path", map[string]string{"DATABASE_URL": "sqlite:///var/lib/latchkey/latchkey.db"}},
		{"redis", map[string]string{"REDIS_URL": "rediss://:pw@cache:6380/1"}},
		{"every algorithm", map[string]string{"JWT_ALGORITHM": "EdDSA"}},
		{"issuer with a path", map[string]string{"APP_ENV": "production", "REFRESH_TOKEN_SECRET": secret32, "JWT_ISSUER": "https://example.com/auth"}},
		{"development issuer over http", map[string]string{"JWT_ISSUER": "http://localhost:8080"}},
		{"IPv6 keys per address", map[string]string{"RATE_LIMIT_IPV6_PREFIX": "128"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(nil, tt.env); err != nil {
				t.Errorf("Load: %v", err)
			}
		})
	}
}

// Validate reports every problem at once, on one line, in field order, and
// is safe to run twice (kong runs it, then Load does).
func TestValidateAllProblems(t *testing.T) {
	c := mustLoad(t, nil, nil)
	c.AppEnv = EnvProduction
	c.JWTExpiresIn = 0
	c.LogFormat = "xml"
	c.Dialects = Dialects{"canonical", "grpc"}
	c.CORSAllowedOrigins = Origins{"https://ok.example.com", "nope"}
	c.RateLimitRefreshIP = Rate{Count: 0, Per: time.Minute}
	err := c.Validate()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Validate: %v; want config.Errors", err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Env)
	}
	want := []string{"JWT_EXPIRES_IN", "REFRESH_TOKEN_SECRET", "CORS_ALLOWED_ORIGINS", "DIALECTS", "RATE_LIMIT_REFRESH_IP", "LOG_FORMAT"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("problems with %v; want %v", got, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("message spans lines: %q", err)
	}

	ok := mustLoad(t, nil, map[string]string{"PUBLIC_URL": "https://a.example.com//", "CORS_ALLOWED_ORIGINS": "https://B.example.com"})
	before := ok.Settings()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if after := ok.Settings(); !slices.Equal(before, after) {
		t.Errorf("a second Validate changed the configuration:\n%v\n%v", before, after)
	}
	if ok.PublicURL != "https://a.example.com" || ok.CORSAllowedOrigins[0] != "https://b.example.com" {
		t.Errorf("normalised PUBLIC_URL=%q CORS_ALLOWED_ORIGINS=%q", ok.PublicURL, ok.CORSAllowedOrigins)
	}
}
