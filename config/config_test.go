package config

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/latchkey-dev/latchkey"
)

// secret32 is a valid HMAC secret (32 bytes).
const secret32 = "0123456789abcdef0123456789abcdef"

func mustLoad(t *testing.T, args []string, env map[string]string) Config {
	t.Helper()
	c, err := Load(args, env)
	if err != nil {
		t.Fatalf("Load(%q, %v): %v", args, env, err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := mustLoad(t, nil, nil)
	want := Config{
		HTTPAddr:                           ":8080",
		MaxConnections:                     1024,
		HTTPIdleTimeout:                    Duration(30 * time.Second),
		AppEnv:                             "development",
		DatabaseURL:                        "sqlite://latchkey.db",
		DatabaseMaxConns:                   10,
		DatabaseMaxConnLifetime:            Duration(time.Hour),
		DatabaseQueryTimeout:               Duration(5 * time.Second),
		JWTAudience:                        "latchkey",
		JWTAlgorithm:                       "ES256",
		JWTExpiresIn:                       Duration(15 * time.Minute),
		JWTRefreshExpiresIn:                Duration(24 * time.Hour),
		SessionMaxLifetime:                 Duration(720 * time.Hour),
		RefreshTokenRotation:               true,
		RefreshTokenReuseInterval:          Duration(10 * time.Second),
		AccessTokenRenewal:                 true,
		MaxSessionsPerUser:                 100,
		DPoP:                               "allowed",
		DPoPProofLifetime:                  Duration(time.Minute),
		RefreshCookie:                      true,
		RefreshCookieName:                  "refreshToken",
		CORSAllowedOrigins:                 Origins{},
		Dialects:                           latchkey.AllDialects(),
		RateLimits:                         true,
		RateLimitSigninFailuresAccount:     Rate{10, 15 * time.Minute},
		RateLimitSigninFailuresIP:          Rate{50, 15 * time.Minute},
		RateLimitSigninIP:                  Rate{100, time.Minute},
		RateLimitRefreshIP:                 Rate{6000, time.Minute},
		RateLimitIPv6Prefix:                64,
		RateLimitSignupIP:                  Rate{20, time.Hour},
		RateLimitSignupGlobal:              Rate{300, time.Minute},
		TrustedProxies:                     Prefixes{},
		RateLimitPasswordResetAccount:      Rate{5, time.Hour},
		RateLimitPasswordResetIP:           Rate{30, time.Hour},
		RateLimitVerificationResendAccount: Rate{5, time.Hour},
		RateLimitVerificationResendIP:      Rate{30, time.Hour},
		MailSendTimeout:                    Duration(30 * time.Second),
		MailPollInterval:                   Duration(5 * time.Second),
		MailRetryBackoff:                   Duration(30 * time.Second),
		MailRetryBackoffMax:                Duration(10 * time.Minute),
		PasswordResetExpiresIn:             Duration(time.Hour),
		EmailVerificationExpiresIn:         Duration(24 * time.Hour),
		SSF:                                true,
		SSFRetentionMargin:                 Duration(time.Hour),
		SSFStreamInactivity:                Duration(24 * time.Hour),
		SSFLongPoll:                        Duration(20 * time.Second),
		SSFPushInterval:                    Duration(100 * time.Millisecond),
		SSFPushBackoff:                     Duration(time.Second),
		SSFPushBackoffMax:                  Duration(time.Minute),
		SSFPushLease:                       Duration(10 * time.Second),
		KeyReloadInterval:                  Duration(30 * time.Second),
		ShutdownTimeout:                    Duration(10 * time.Second),
		LogLevel:                           "info",
		LogFormat:                          "json",
	}
	// Compare through Settings so a failure names the variable; the
	// struct comparison below catches anything Settings would not show.
	got, exp := c.Settings(), want.Settings()
	for i := range exp {
		if got[i].Value != exp[i].Value {
			t.Errorf("%s = %q; want %q", exp[i].Env, got[i].Value, exp[i].Value)
		}
	}
	if !equalConfig(c, want) {
		t.Errorf("Load(nil, nil) =\n%+v\nwant\n%+v", c, want)
	}
	if c.Issuer() != "http://localhost:8080" || c.Production() {
		t.Errorf("Issuer() = %q, Production() = %v", c.Issuer(), c.Production())
	}
	for _, d := range latchkey.AllDialects() {
		if !c.DialectEnabled(d) {
			t.Errorf("dialect %s is off by default", d)
		}
	}
}

// equalConfig compares configurations field by field (Config holds slices).
func equalConfig(a, b Config) bool {
	sa, sb := a.Settings(), b.Settings()
	return slices.Equal(sa, sb) &&
		slices.Equal(a.CORSAllowedOrigins, b.CORSAllowedOrigins) &&
		slices.Equal(a.Dialects, b.Dialects) &&
		slices.Equal(a.TrustedProxies, b.TrustedProxies) &&
		a.JWTSecret == b.JWTSecret && a.RefreshTokenSecret == b.RefreshTokenSecret &&
		a.DatabaseURL == b.DatabaseURL && a.RedisURL == b.RedisURL
}

func TestLoadDurations(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"1d", 24 * time.Hour},
		{"30d", 720 * time.Hour},
		{"2w", 336 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"90m", 90 * time.Minute},
	}
	for _, tt := range tests {
		c := mustLoad(t, nil, map[string]string{"JWT_REFRESH_EXPIRES_IN": tt.value})
		if c.JWTRefreshExpiresIn.D() != tt.want {
			t.Errorf("JWT_REFRESH_EXPIRES_IN=%s gives %v; want %v", tt.value, c.JWTRefreshExpiresIn, tt.want)
		}
	}
}

func TestLoadFlagOverridesEnv(t *testing.T) {
	env := map[string]string{"JWT_EXPIRES_IN": "5m", "HTTP_ADDR": ":9000", "RATE_LIMITS": "off", "DIALECTS": "none"}
	c := mustLoad(t, []string{"--jwt-expires-in=2m", "--rate-limits", "--dialects", "oauth2"}, env)
	if c.JWTExpiresIn.D() != 2*time.Minute {
		t.Errorf("JWT_EXPIRES_IN = %v; want the flag's 2m", c.JWTExpiresIn)
	}
	if !c.RateLimits.On() {
		t.Error("RATE_LIMITS is off; want the flag's on")
	}
	if !slices.Equal(c.Dialects, []string{latchkey.OAuth2}) {
		t.Errorf("DIALECTS = %v; want the flag's oauth2", c.Dialects)
	}
	if c.HTTPAddr != ":9000" {
		t.Errorf("HTTP_ADDR = %q; want the variable's :9000", c.HTTPAddr)
	}
}

func TestLoadIgnoresProcessEnv(t *testing.T) {
	t.Setenv("JWT_EXPIRES_IN", "1m")
	t.Setenv("APP_ENV", "production")
	c := mustLoad(t, nil, nil)
	if c.JWTExpiresIn.D() != 15*time.Minute || c.AppEnv != "development" {
		t.Errorf("Load read the process environment: JWT_EXPIRES_IN=%v APP_ENV=%s", c.JWTExpiresIn, c.AppEnv)
	}
}

// A value kong cannot parse stops start-up with a message naming what the
// operator set: the variable when it came from the environment, the flag
// when it came from the command line.
func TestLoadParseErrorsNameTheSetting(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{nil, map[string]string{"JWT_REFRESH_EXPIRES_IN": "abc"}, []string{"JWT_REFRESH_EXPIRES_IN", `invalid duration "abc"`}},
		{nil, map[string]string{"SESSION_MAX_LIFETIME": "-1h"}, []string{"SESSION_MAX_LIFETIME", "negative"}},
		{nil, map[string]string{"JWT_EXPIRES_IN": ""}, []string{"JWT_EXPIRES_IN", "empty"}},
		{nil, map[string]string{"REFRESH_TOKEN_ROTATION": "sometimes"}, []string{"REFRESH_TOKEN_ROTATION", "want on or off"}},
		{nil, map[string]string{"RATE_LIMIT_REFRESH_IP": "lots"}, []string{"RATE_LIMIT_REFRESH_IP", "invalid rate"}},
		{nil, map[string]string{"DIALECTS": "soap"}, []string{"DIALECTS", `unknown dialect "soap"`}},
		{nil, map[string]string{"TRUSTED_PROXIES": "10.0.0.0/40"}, []string{"TRUSTED_PROXIES", "invalid proxy"}},
		{nil, map[string]string{"CORS_ALLOWED_ORIGINS": "*"}, []string{"CORS_ALLOWED_ORIGINS", "invalid origin"}},
		{nil, map[string]string{"MAX_SESSIONS_PER_USER": "many"}, []string{"MAX_SESSIONS_PER_USER"}},
		{[]string{"--jwt-refresh-expires-in=abc"}, nil, []string{"--jwt-refresh-expires-in", `invalid duration "abc"`}},
		{[]string{"--rate-limit-signin-ip=5"}, nil, []string{"--rate-limit-signin-ip", "invalid rate"}},
	}
	for _, tt := range tests {
		_, err := Load(tt.args, tt.env)
		if err == nil {
			t.Errorf("Load(%q, %v) succeeded; want an error", tt.args, tt.env)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Load(%q, %v) error %q; want it to contain %q", tt.args, tt.env, err, w)
			}
		}
	}
}

// The command line embeds Config; kong then reads the process environment
// itself. Its messages must name the variable the same way Load's do, and it
// must run Validate.
func TestEmbeddedInCLI(t *testing.T) {
	var cli struct {
		Serve struct {
			Config `embed:""`
		} `cmd:""`
	}
	parse := func(args ...string) error {
		t.Helper()
		k, err := kong.New(&cli, kong.Name("latchkey"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = k.Parse(args)
		return err
	}

	t.Setenv("JWT_REFRESH_EXPIRES_IN", "abc")
	err := parse("serve")
	if err == nil || !strings.Contains(err.Error(), "JWT_REFRESH_EXPIRES_IN") || !strings.Contains(err.Error(), `invalid duration "abc"`) {
		t.Errorf("bad JWT_REFRESH_EXPIRES_IN: error %v; want it to name the variable", err)
	}
	_, loadErr := Load(nil, map[string]string{"JWT_REFRESH_EXPIRES_IN": "abc"})
	if err == nil || loadErr == nil || err.Error() != loadErr.Error() {
		t.Errorf("the CLI says %q but Load says %q; want the same message", err, loadErr)
	}

	t.Setenv("JWT_REFRESH_EXPIRES_IN", "31d")
	err = parse("serve")
	var problem *Error
	if !errors.As(err, &problem) || problem.Env != "JWT_REFRESH_EXPIRES_IN" {
		t.Errorf("refresh lifetime over the session cap: error %v; want a validation error naming JWT_REFRESH_EXPIRES_IN", err)
	}

	t.Setenv("JWT_REFRESH_EXPIRES_IN", "2d")
	if err := parse("serve", "--trusted-proxies=10.0.0.0/8"); err != nil {
		t.Fatal(err)
	}
	if cli.Serve.JWTRefreshExpiresIn.D() != 48*time.Hour || !slices.Equal(cli.Serve.TrustedProxies, Prefixes{netip.MustParsePrefix("10.0.0.0/8")}) {
		t.Errorf("serve got JWT_REFRESH_EXPIRES_IN=%v TRUSTED_PROXIES=%v", cli.Serve.JWTRefreshExpiresIn, cli.Serve.TrustedProxies)
	}
}

func TestLoadLists(t *testing.T) {
	c := mustLoad(t, nil, map[string]string{
		"DIALECTS":             "oauth2, cookie",
		"TRUSTED_PROXIES":      "10.0.0.0/8, 192.0.2.1",
		"CORS_ALLOWED_ORIGINS": "https://app.example.com/,http://localhost:3000",
	})
	if !c.DialectEnabled(latchkey.OAuth2) || !c.DialectEnabled(latchkey.Cookie) || c.DialectEnabled(latchkey.Canonical) {
		t.Errorf("DIALECTS = %v", c.Dialects)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")}
	if !slices.Equal(c.TrustedProxies, want) {
		t.Errorf("TRUSTED_PROXIES = %v; want %v", c.TrustedProxies, want)
	}
	if !slices.Equal(c.CORSAllowedOrigins, []string{"https://app.example.com", "http://localhost:3000"}) {
		t.Errorf("CORS_ALLOWED_ORIGINS = %q", c.CORSAllowedOrigins)
	}

	c = mustLoad(t, nil, map[string]string{"DIALECTS": "none"})
	for _, d := range latchkey.AllDialects() {
		if c.DialectEnabled(d) {
			t.Errorf("DIALECTS=none leaves %s on", d)
		}
	}
}

func TestIssuer(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{nil, "http://localhost:8080"},
		{map[string]string{"HTTP_ADDR": "127.0.0.1:9000"}, "http://127.0.0.1:9000"},
		{map[string]string{"HTTP_ADDR": "0.0.0.0:9000"}, "http://localhost:9000"},
		{map[string]string{"HTTP_ADDR": "[::]:9000"}, "http://localhost:9000"},
		{map[string]string{"HTTP_ADDR": "[::1]:9000"}, "http://[::1]:9000"},
		{map[string]string{"PUBLIC_URL": "https://auth.example.com/"}, "https://auth.example.com"},
		{map[string]string{"PUBLIC_URL": "https://example.com/auth"}, "https://example.com/auth"},
		{map[string]string{"PUBLIC_URL": "https://auth.example.com", "JWT_ISSUER": "https://id.example.com"}, "https://id.example.com"},
	}
	for _, tt := range tests {
		if got := mustLoad(t, nil, tt.env).Issuer(); got != tt.want {
			t.Errorf("%v: Issuer() = %q; want %q", tt.env, got, tt.want)
		}
	}
}

func TestHelpers(t *testing.T) {
	c := mustLoad(t, nil, map[string]string{"PASSWORD_HASH_CONCURRENCY": "3", "LOG_LEVEL": "warn"})
	if c.HashConcurrency() != 3 {
		t.Errorf("HashConcurrency() = %d; want 3", c.HashConcurrency())
	}
	if c.SlogLevel().String() != "WARN" {
		t.Errorf("SlogLevel() = %v; want WARN", c.SlogLevel())
	}
	if mustLoad(t, nil, nil).HashConcurrency() < 1 {
		t.Error("HashConcurrency() with 0 is below 1")
	}
}
