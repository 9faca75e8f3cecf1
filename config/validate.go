package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/store/postgres"
)

// MinSecretBytes is the shortest accepted HMAC secret: RFC 7518 §3.2 requires
// an HS256 key of at least the hash size, 256 bits.
const MinSecretBytes = 32

// Error is a configuration problem with one setting. Its message starts with
// the environment variable, so a start-up failure names what to fix.
type Error struct {
	Env string // the environment variable, such as "JWT_EXPIRES_IN"
	Msg string
}

func (e *Error) Error() string { return e.Env + ": " + e.Msg }

// Errors is every problem Validate found. Its message puts them on one line,
// separated by "; "; errors.As finds each *Error.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap lets errors.As and errors.Is look at each problem.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Validate checks c and normalises it in place (PUBLIC_URL loses a trailing
// slash, origins are lower-cased). It returns nil or Errors, listing every
// problem, each naming its environment variable. Validate is idempotent;
// kong calls it after parsing, and so does Load.
func (c *Config) Validate() error {
	var es Errors
	bad := func(env, format string, args ...any) {
		es = append(es, &Error{Env: env, Msg: fmt.Sprintf(format, args...)})
	}
	oneOf := func(env, value string, allowed ...string) {
		for _, a := range allowed {
			if value == a {
				return
			}
		}
		bad(env, "invalid value %q: want %s", value, strings.Join(allowed, ", "))
	}
	positive := func(env string, d Duration) {
		if d <= 0 {
			bad(env, "must be greater than 0, got %s", d)
		}
	}

	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("HTTP_ADDR", "invalid address %q: want host:port, such as :8080 or 127.0.0.1:8080", c.HTTPAddr)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("METRICS_ADDR", "invalid address %q: want host:port, such as :9090 or 127.0.0.1:9090", c.MetricsAddr)
		} else if c.MetricsAddr == c.HTTPAddr {
			bad("METRICS_ADDR", "%q is HTTP_ADDR too: give metrics an address of their own, or leave METRICS_ADDR empty", c.MetricsAddr)
		}
	}
	if c.PublicURL != "" {
		if u, err := checkPublicURL(c.PublicURL); err != nil {
			bad("PUBLIC_URL", "%v", err)
		} else {
			c.PublicURL = u
		}
	}
	oneOf("APP_ENV", c.AppEnv, EnvDevelopment, EnvProduction)

	if err := checkDatabaseURL(c.DatabaseURL); err != nil {
		bad("DATABASE_URL", "%v", err)
	}
	if c.MaxConnections < 0 {
		bad("MAX_CONNECTIONS", "must not be negative, got %d (0: no limit)", c.MaxConnections)
	}
	positive("HTTP_IDLE_TIMEOUT", c.HTTPIdleTimeout)
	if c.DatabaseSchema != "" {
		if err := postgres.CheckSchema(c.DatabaseSchema); err != nil {
			bad("DATABASE_SCHEMA", "%v", err)
		}
	}
	if c.DatabaseMaxConns < 1 {
		bad("DATABASE_MAX_CONNS", "must be at least 1, got %d", c.DatabaseMaxConns)
	}
	if c.DatabaseMinConns < 0 {
		bad("DATABASE_MIN_CONNS", "must not be negative, got %d", c.DatabaseMinConns)
	} else if c.DatabaseMaxConns >= 1 && c.DatabaseMinConns > c.DatabaseMaxConns {
		bad("DATABASE_MIN_CONNS", "%d is more than DATABASE_MAX_CONNS (%d)", c.DatabaseMinConns, c.DatabaseMaxConns)
	}
	positive("DATABASE_MAX_CONN_LIFETIME", c.DatabaseMaxConnLifetime)
	positive("DATABASE_QUERY_TIMEOUT", c.DatabaseQueryTimeout)

	if c.JWTIssuer != "" {
		if err := checkIssuer(c.JWTIssuer, c.Production()); err != nil {
			bad("JWT_ISSUER", "%v", err)
		}
	}
	if c.JWTAudience == "" {
		bad("JWT_AUDIENCE", "must not be empty")
	}
	oneOf("JWT_ALGORITHM", c.JWTAlgorithm, AlgES256, AlgEdDSA, AlgRS256, AlgHS256)
	switch {
	case c.JWTSecret != "" && c.JWTAlgorithm != AlgHS256:
		bad("JWT_SECRET", "is set but JWT_ALGORITHM is %s; the secret is used only with HS256 (unset it, or set JWT_ALGORITHM=HS256)", c.JWTAlgorithm)
	case c.JWTSecret != "" && len(c.JWTSecret) < MinSecretBytes:
		bad("JWT_SECRET", "too short: %d bytes, want at least %d", len(c.JWTSecret), MinSecretBytes)
	case c.JWTSecret == "" && c.JWTAlgorithm == AlgHS256 && c.Production():
		bad("JWT_SECRET", "required with JWT_ALGORITHM=HS256 when APP_ENV=production (at least %d bytes)", MinSecretBytes)
	}
	positive("JWT_EXPIRES_IN", c.JWTExpiresIn)
	positive("JWT_REFRESH_EXPIRES_IN", c.JWTRefreshExpiresIn)
	positive("SESSION_MAX_LIFETIME", c.SessionMaxLifetime)
	if c.JWTRefreshExpiresIn > c.SessionMaxLifetime && c.SessionMaxLifetime > 0 {
		bad("JWT_REFRESH_EXPIRES_IN", "%s is longer than SESSION_MAX_LIFETIME (%s)", c.JWTRefreshExpiresIn, c.SessionMaxLifetime)
	}

	switch {
	case c.RefreshTokenSecret != "" && len(c.RefreshTokenSecret) < MinSecretBytes:
		bad("REFRESH_TOKEN_SECRET", "too short: %d bytes, want at least %d", len(c.RefreshTokenSecret), MinSecretBytes)
	case c.RefreshTokenSecret == "" && c.Production():
		bad("REFRESH_TOKEN_SECRET", "required when APP_ENV=production (at least %d bytes, e.g. openssl rand -base64 48)", MinSecretBytes)
	}
	if c.RefreshTokenReuseInterval < 0 {
		bad("REFRESH_TOKEN_REUSE_INTERVAL", "must not be negative, got %s", c.RefreshTokenReuseInterval)
	}
	if c.MaxSessionsPerUser < 0 {
		bad("MAX_SESSIONS_PER_USER", "must not be negative, got %d", c.MaxSessionsPerUser)
	}
	oneOf("DPOP", c.DPoP, "off", "allowed", "required")
	positive("DPOP_PROOF_LIFETIME", c.DPoPProofLifetime)
	if c.DPoPProofLifetime.D() > 10*time.Minute {
		bad("DPOP_PROOF_LIFETIME", "%s is longer than 10m: a proof is meant to be fresh (RFC 9449 §11.1)", c.DPoPProofLifetime)
	}

	if !validCookieName(c.RefreshCookieName) {
		bad("REFRESH_COOKIE_NAME", "invalid cookie name %q: want letters, digits and !#$%%&'*+-.^_`|~ (RFC 6265 §4.1.1)", c.RefreshCookieName)
	}
	for i, o := range c.CORSAllowedOrigins {
		if n, err := parseOrigin(o); err != nil {
			bad("CORS_ALLOWED_ORIGINS", "%v", err)
		} else {
			c.CORSAllowedOrigins[i] = n
		}
	}
	for _, d := range c.Dialects {
		if !slices.Contains(latchkey.AllDialects(), d) {
			bad("DIALECTS", "unknown dialect %q: want some of %s, or all or none", d, strings.Join(latchkey.AllDialects(), ","))
		}
	}

	for _, r := range []struct {
		env  string
		rate Rate
	}{
		{"RATE_LIMIT_SIGNIN_FAILURES_ACCOUNT", c.RateLimitSigninFailuresAccount},
		{"RATE_LIMIT_SIGNIN_FAILURES_IP", c.RateLimitSigninFailuresIP},
		{"RATE_LIMIT_SIGNIN_IP", c.RateLimitSigninIP},
		{"RATE_LIMIT_REFRESH_IP", c.RateLimitRefreshIP},
		{"RATE_LIMIT_SIGNUP_IP", c.RateLimitSignupIP},
		{"RATE_LIMIT_SIGNUP_GLOBAL", c.RateLimitSignupGlobal},
		{"RATE_LIMIT_PASSWORD_RESET_ACCOUNT", c.RateLimitPasswordResetAccount},
		{"RATE_LIMIT_PASSWORD_RESET_IP", c.RateLimitPasswordResetIP},
		{"RATE_LIMIT_VERIFICATION_RESEND_ACCOUNT", c.RateLimitVerificationResendAccount},
		{"RATE_LIMIT_VERIFICATION_RESEND_IP", c.RateLimitVerificationResendIP},
	} {
		if err := r.rate.Valid(); err != nil {
			bad(r.env, "%v", err)
		}
	}
	if c.RateLimitIPv6Prefix < 32 || c.RateLimitIPv6Prefix > 128 {
		bad("RATE_LIMIT_IPV6_PREFIX", "must be between 32 and 128, got %d (64: one count per /64 network)", c.RateLimitIPv6Prefix)
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			bad("TRUSTED_PROXIES", "invalid network %v", p)
		}
	}
	if c.RedisURL != "" {
		if err := checkRedisURL(c.RedisURL); err != nil {
			bad("REDIS_URL", "%v", err)
		}
	}

	c.validateMail(bad, positive)
	if c.SSFRetentionMargin < 0 {
		bad("SSF_RETENTION_MARGIN", "must not be negative, got %s", c.SSFRetentionMargin)
	}
	positive("SSF_STREAM_INACTIVITY", c.SSFStreamInactivity)
	if c.SSFLongPoll <= 0 || c.SSFLongPoll.D() > MaxLongPoll {
		bad("SSF_LONG_POLL", "must be more than 0 and at most %s (the server's write timeout is 30s), got %s", MaxLongPoll, c.SSFLongPoll)
	}
	if c.SSFPushInterval.D() < 10*time.Millisecond {
		bad("SSF_PUSH_INTERVAL", "must be at least 10ms, got %s", c.SSFPushInterval)
	}
	positive("SSF_PUSH_BACKOFF", c.SSFPushBackoff)
	if c.SSFPushBackoffMax < c.SSFPushBackoff {
		bad("SSF_PUSH_BACKOFF_MAX", "%s is less than SSF_PUSH_BACKOFF (%s)", c.SSFPushBackoffMax, c.SSFPushBackoff)
	}
	if c.SSFPushLease.D() < time.Second {
		bad("SSF_PUSH_LEASE", "must be at least 1s, got %s", c.SSFPushLease)
	}

	if c.PasswordHashConcurrency < 0 {
		bad("PASSWORD_HASH_CONCURRENCY", "must not be negative, got %d (0 means half the CPUs the process may use, at least one)", c.PasswordHashConcurrency)
	}
	positive("KEY_RELOAD_INTERVAL", c.KeyReloadInterval)
	if c.ShutdownDrainDelay < 0 {
		bad("SHUTDOWN_DRAIN_DELAY", "must not be negative, got %s", c.ShutdownDrainDelay)
	}
	positive("SHUTDOWN_TIMEOUT", c.ShutdownTimeout)
	oneOf("LOG_LEVEL", c.LogLevel, "debug", "info", "warn", "error")
	oneOf("LOG_FORMAT", c.LogFormat, "json", "text")

	if len(es) == 0 {
		return nil
	}
	return es
}

// checkPublicURL returns the URL without a trailing slash, or why it cannot
// be the external base URL.
func checkPublicURL(s string) (string, error) {
	const want = "want an absolute http(s) URL such as https://auth.example.com"
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("invalid URL %q: %s", s, want)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("invalid URL %q: scheme must be http or https; %s", s, want)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("invalid URL %q: no host; %s", s, want)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("invalid URL %q: a base URL has no user, query or fragment; %s", s, want)
	}
	return strings.TrimRight(s, "/"), nil
}

// checkIssuer refuses a JWT_ISSUER that cannot be the RFC 8414 issuer
// (latchkey.CheckIssuer), and, in production, one without https.
func checkIssuer(s string, production bool) error {
	if err := latchkey.CheckIssuer(s); err != nil {
		return err
	}
	if u, _ := url.Parse(s); production && u.Scheme != "https" {
		return fmt.Errorf("invalid issuer %q: APP_ENV=production requires https; want an absolute URL such as https://auth.example.com", s)
	}
	return nil
}

// checkDatabaseURL accepts the schemes cmd/latchkey opens a store by. The
// message never repeats the URL: it may hold a password.
func checkDatabaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL: want sqlite://path or postgres://user:pass@host:5432/db")
	}
	switch u.Scheme {
	case "sqlite":
		if u.Host == "" && u.Path == "" && u.Opaque == "" {
			return errors.New("no database file: want sqlite://path, such as sqlite://latchkey.db or sqlite:///var/lib/latchkey/latchkey.db")
		}
	case "postgres", "postgresql":
	default:
		return fmt.Errorf("unsupported scheme %q: want sqlite:// or postgres://", u.Scheme)
	}
	return nil
}

// checkRedisURL accepts the schemes go-redis's ParseURL reads. The message
// never repeats the URL: it may hold a password.
func checkRedisURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL: want redis://host:6379/0 or rediss://… for TLS")
	}
	switch u.Scheme {
	case "redis", "rediss", "unix":
		return nil
	}
	return fmt.Errorf("unsupported scheme %q: want redis://, rediss:// or unix://", u.Scheme)
}

// validCookieName reports whether s is an RFC 6265 §4.1.1 cookie-name (an
// RFC 7230 token).
func validCookieName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}
