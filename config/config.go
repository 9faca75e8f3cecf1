package config

import (
	"log/slog"
	"net"
	"runtime"
	"slices"
	"time"
)

// Environments APP_ENV accepts.
const (
	EnvDevelopment = "development"
	EnvProduction  = "production"
)

// Signing algorithms JWT_ALGORITHM accepts for access tokens: asymmetric
// ones, and HS256 with JWT_SECRET only when chosen explicitly.
const (
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
	AlgRS256 = "RS256"
	AlgHS256 = "HS256"
)

// Config is every setting of latchkey serve. Each field is both an
// environment variable (env tag) and a flag (name tag); a flag wins over its
// variable, which wins over the default. `latchkey serve` embeds it:
//
//	type Serve struct {
//		config.Config `embed:""`
//	}
//
// and kong then calls Validate after parsing. The secret tag marks values
// that Settings redacts: "value" hides the whole value, "password" only the
// password inside a URL.
//
// The field order is the order of Settings, of `latchkey config` and of the
// table in docs/configuration.md.
type Config struct {
	HTTPAddr        string   `name:"http-addr" env:"HTTP_ADDR" default:":8080" help:"Address to listen on (host:port; an empty host listens on every interface)."`
	MaxConnections  int      `name:"max-connections" env:"MAX_CONNECTIONS" default:"1024" help:"Most connections HTTP_ADDR keeps open at once; over it the one waiting longest (for more than a second) without being served is closed, else new ones wait (0: no limit)."`
	HTTPIdleTimeout Duration `name:"http-idle-timeout" env:"HTTP_IDLE_TIMEOUT" default:"30s" help:"A keep-alive connection with no request for this long is closed."`
	MetricsAddr     string   `name:"metrics-addr" env:"METRICS_ADDR" default:"" help:"Separate address (host:port) serving GET /metrics only; the API listener then answers 404 there. Empty: /metrics is on HTTP_ADDR."`
	PublicURL       string   `name:"public-url" env:"PUBLIC_URL" default:"" help:"External base URL clients use, such as https://auth.example.com (no trailing slash); the default issuer."`
	AppEnv          string   `name:"app-env" env:"APP_ENV" default:"development" help:"development or production. Production requires REFRESH_TOKEN_SECRET and marks cookies Secure."`

	DatabaseURL             string   `name:"database-url" env:"DATABASE_URL" default:"sqlite://latchkey.db" secret:"password" help:"sqlite://path for the embedded database, postgres://user:pass@host/db for PostgreSQL."`
	DatabaseMaxConns        int      `name:"database-max-conns" env:"DATABASE_MAX_CONNS" default:"10" help:"Most open database connections per instance."`
	DatabaseMinConns        int      `name:"database-min-conns" env:"DATABASE_MIN_CONNS" default:"0" help:"Idle database connections kept open per instance."`
	DatabaseMaxConnLifetime Duration `name:"database-max-conn-lifetime" env:"DATABASE_MAX_CONN_LIFETIME" default:"1h" help:"A database connection is closed and replaced after this long."`
	DatabaseQueryTimeout    Duration `name:"database-query-timeout" env:"DATABASE_QUERY_TIMEOUT" default:"5s" help:"PostgreSQL: bound on each store call (waiting for a connection, each statement); the server's statement_timeout is set a margin below it."`
	DatabaseSchema          string   `name:"database-schema" env:"DATABASE_SCHEMA" default:"" help:"PostgreSQL schema of Latchkey's tables. Empty: the DATABASE_URL's search_path, else latchkey. Installs made before this setting have theirs in public."`

	JWTIssuer           string   `name:"jwt-issuer" env:"JWT_ISSUER" default:"" help:"iss of every token and of the OAuth metadata: an absolute URL without trailing slash, query or fragment (https in production); defaults to PUBLIC_URL, else http:// + HTTP_ADDR."`
	JWTAudience         string   `name:"jwt-audience" env:"JWT_AUDIENCE" default:"latchkey" help:"aud of access tokens."`
	JWTAlgorithm        string   `name:"jwt-algorithm" env:"JWT_ALGORITHM" default:"ES256" help:"Access-token signing algorithm: ES256, EdDSA, RS256, or HS256 (shared secret)."`
	JWTSecret           string   `name:"jwt-secret" env:"JWT_SECRET" default:"" secret:"value" help:"Shared secret for HS256 access tokens (at least 32 bytes); only with JWT_ALGORITHM=HS256."`
	JWTExpiresIn        Duration `name:"jwt-expires-in" env:"JWT_EXPIRES_IN" default:"15m" help:"Access-token lifetime."`
	JWTRefreshExpiresIn Duration `name:"jwt-refresh-expires-in" env:"JWT_REFRESH_EXPIRES_IN" default:"24h" help:"Refresh-token lifetime, sliding: each refresh starts it again."`
	SessionMaxLifetime  Duration `name:"session-max-lifetime" env:"SESSION_MAX_LIFETIME" default:"720h" help:"Absolute cap of a session; no token outlives it."`

	RefreshTokenSecret        string   `name:"refresh-token-secret" env:"REFRESH_TOKEN_SECRET" default:"" secret:"value" help:"HMAC key of refresh tokens (at least 32 bytes). Required in production; generated and stored in the database in development."`
	RefreshTokenRotation      Switch   `name:"refresh-token-rotation" env:"REFRESH_TOKEN_ROTATION" default:"on" help:"on: return a new refresh token at every refresh and supersede the old one; off: return the same one until it expires."`
	RefreshTokenReuseInterval Duration `name:"refresh-token-reuse-interval" env:"REFRESH_TOKEN_REUSE_INTERVAL" default:"10s" help:"Grace period after a rotation in which the previous refresh token yields the current tokens instead of revoking the session (0 disables it)."`
	AccessTokenRenewal        Switch   `name:"access-token-renewal" env:"ACCESS_TOKEN_RENEWAL" default:"on" help:"on: POST /token/refresh issues a new access token for a live session; off: it answers 501."`
	MaxSessionsPerUser        int      `name:"max-sessions-per-user" env:"MAX_SESSIONS_PER_USER" default:"100" help:"A sign-in beyond this revokes the user's least recently refreshed session (0: no limit)."`

	DPoP              string   `name:"dpop" env:"DPOP" default:"allowed" help:"DPoP proofs (RFC 9449) on token requests: allowed (a sign-in with a proof binds the session to the client's key; bearer clients still work), required (token requests without a proof are refused), off (proofs on token requests are ignored)."`
	DPoPNonce         Switch   `name:"dpop-nonce" env:"DPOP_NONCE" default:"off" help:"on: every DPoP proof must carry a server nonce (DPoP-Nonce header, RFC 9449 §8); nonces rotate every 5 minutes and are accepted by every instance."`
	DPoPProofLifetime Duration `name:"dpop-proof-lifetime" env:"DPOP_PROOF_LIFETIME" default:"1m" help:"How long after its iat a DPoP proof is accepted (plus 5s of clock leeway); its jti is remembered that long."`

	RefreshCookie      Switch   `name:"refresh-cookie" env:"REFRESH_COOKIE" default:"on" help:"on: sign-in also sets the refresh token as an HttpOnly cookie."`
	RefreshCookieName  string   `name:"refresh-cookie-name" env:"REFRESH_COOKIE_NAME" default:"refreshToken" help:"Name of the refresh cookie."`
	CORSAllowedOrigins Origins  `name:"cors-allowed-origins" placeholder:"ORIGIN,..." env:"CORS_ALLOWED_ORIGINS" default:"" help:"Comma-separated browser origins (scheme://host[:port]) allowed to call the API cross-site."`
	Dialects           Dialects `name:"dialects" env:"DIALECTS" default:"canonical,oauth2,login,cookie,feathers" help:"Comma-separated dialects to serve (canonical, oauth2, login, cookie, feathers), or all, or none."`

	RateLimits                         Switch   `name:"rate-limits" env:"RATE_LIMITS" default:"on" help:"on: enforce the RATE_LIMIT_* limits; off: switch them all off."`
	RateLimitSigninFailuresAccount     Rate     `name:"rate-limit-signin-failures-account" env:"RATE_LIMIT_SIGNIN_FAILURES_ACCOUNT" default:"10/15m" help:"Failed sign-ins per account (N/duration)."`
	RateLimitSigninFailuresIP          Rate     `name:"rate-limit-signin-failures-ip" env:"RATE_LIMIT_SIGNIN_FAILURES_IP" default:"50/15m" help:"Failed sign-ins per client IP (N/duration)."`
	RateLimitSigninIP                  Rate     `name:"rate-limit-signin-ip" env:"RATE_LIMIT_SIGNIN_IP" default:"100/1m" help:"All sign-ins per client IP (N/duration)."`
	RateLimitRefreshIP                 Rate     `name:"rate-limit-refresh-ip" env:"RATE_LIMIT_REFRESH_IP" default:"6000/1m" help:"Refreshes per client IP (N/duration); generous because many users share a proxy's address."`
	RateLimitIPv6Prefix                int      `name:"rate-limit-ipv6-prefix" env:"RATE_LIMIT_IPV6_PREFIX" default:"64" help:"Per-IP limits count an IPv6 client by its /N network (32 to 128): one host usually holds a whole /64."`
	RateLimitSignupIP                  Rate     `name:"rate-limit-signup-ip" env:"RATE_LIMIT_SIGNUP_IP" default:"20/1h" help:"Sign-ups per client IP (N/duration), checked before the password is hashed."`
	RateLimitSignupGlobal              Rate     `name:"rate-limit-signup-global" env:"RATE_LIMIT_SIGNUP_GLOBAL" default:"300/1m" help:"Sign-ups from all clients together (N/duration; per instance, or for all instances with REDIS_URL), checked before the password is hashed."`
	RateLimitPasswordResetAccount      Rate     `name:"rate-limit-password-reset-account" env:"RATE_LIMIT_PASSWORD_RESET_ACCOUNT" default:"5/1h" help:"Password-reset requests per e-mail address (N/duration), counted alike for every address, a user's or not."`
	RateLimitPasswordResetIP           Rate     `name:"rate-limit-password-reset-ip" env:"RATE_LIMIT_PASSWORD_RESET_IP" default:"30/1h" help:"Password-reset requests per client IP (N/duration)."`
	RateLimitVerificationResendAccount Rate     `name:"rate-limit-verification-resend-account" env:"RATE_LIMIT_VERIFICATION_RESEND_ACCOUNT" default:"5/1h" help:"Verification e-mails asked again per address (N/duration)."`
	RateLimitVerificationResendIP      Rate     `name:"rate-limit-verification-resend-ip" env:"RATE_LIMIT_VERIFICATION_RESEND_IP" default:"30/1h" help:"Verification e-mails asked again per client IP (N/duration)."`
	TrustedProxies                     Prefixes `name:"trusted-proxies" placeholder:"CIDR,..." env:"TRUSTED_PROXIES" default:"" help:"Comma-separated proxy IPs or CIDRs whose X-Forwarded-For is believed; empty: the connection's address is the client's."`
	RedisURL                           string   `name:"redis-url" env:"REDIS_URL" default:"" secret:"password" help:"redis://host:6379/0 to share rate-limit counters between instances; empty: counters per instance."`

	SMTPURL                    string   `name:"smtp-url" env:"SMTP_URL" default:"" secret:"password" help:"Mail server of the password-reset and verification e-mails: smtp://user:pass@host:587 (STARTTLS when offered) or smtps://user:pass@host:465 (TLS). Empty: development logs the links instead; production answers 501 to those routes."`
	MailFrom                   string   `name:"mail-from" env:"MAIL_FROM" default:"" help:"From of the e-mails, such as \"Example <no-reply@example.com>\". Required with SMTP_URL; latchkey@localhost in development without it."`
	MailTemplatesDir           string   `name:"mail-templates-dir" env:"MAIL_TEMPLATES_DIR" default:"" help:"Directory whose files replace the built-in e-mail templates of the same name (password_reset.subject, password_reset.txt, password_reset.html, and the same for email_verification)."`
	MailSendTimeout            Duration `name:"mail-send-timeout" env:"MAIL_SEND_TIMEOUT" default:"30s" help:"Bound of one delivery to the mail server; a queued e-mail is leased to one instance for twice as long."`
	MailPollInterval           Duration `name:"mail-poll-interval" env:"MAIL_POLL_INTERVAL" default:"5s" help:"How often each instance looks for queued e-mail it was not told of (queued by another instance, or due for a retry)."`
	MailRetryBackoff           Duration `name:"mail-retry-backoff" env:"MAIL_RETRY_BACKOFF" default:"30s" help:"Wait after a failed delivery, doubled at each further failure up to MAIL_RETRY_BACKOFF_MAX; an e-mail is given up when its link expires."`
	MailRetryBackoffMax        Duration `name:"mail-retry-backoff-max" env:"MAIL_RETRY_BACKOFF_MAX" default:"10m" help:"Longest wait between two delivery attempts of an e-mail."`
	PasswordResetURL           string   `name:"password-reset-url" env:"PASSWORD_RESET_URL" default:"" help:"The application's page that sets a new password; the token is appended to it as it is (https://app.example.com/reset#token=). Empty: the account page, PUBLIC_URL (else the issuer) + /#reset=."`
	PasswordResetExpiresIn     Duration `name:"password-reset-expires-in" env:"PASSWORD_RESET_EXPIRES_IN" default:"1h" help:"Lifetime of a password-reset link."`
	RequireEmailVerification   Switch   `name:"require-email-verification" env:"REQUIRE_EMAIL_VERIFICATION" default:"off" help:"on: a sign-up is sent a verification link and cannot sign in (email_not_verified) until it follows it. Users created while it was off count as verified."`
	EmailVerificationURL       string   `name:"email-verification-url" env:"EMAIL_VERIFICATION_URL" default:"" help:"The application's page that verifies an address; the token is appended as it is. Empty: the account page, PUBLIC_URL (else the issuer) + /#verify=."`
	EmailVerificationExpiresIn Duration `name:"email-verification-expires-in" env:"EMAIL_VERIFICATION_EXPIRES_IN" default:"24h" help:"Lifetime of an e-mail verification link."`

	SSF                 Switch   `name:"ssf" env:"SSF" default:"on" help:"on: serve the Shared Signals transmitter (revocation events for APIs, docs/revocation.md) and push its events; off: neither (revocations still record their events)."`
	SSFRetentionMargin  Duration `name:"ssf-retention-margin" env:"SSF_RETENTION_MARGIN" default:"1h" help:"Security events are kept JWT_EXPIRES_IN plus the leeway plus this long, then deleted by latchkey purge."`
	SSFStreamInactivity Duration `name:"ssf-stream-inactivity" env:"SSF_STREAM_INACTIVITY" default:"24h" help:"latchkey purge deletes the event streams whose receiver has not polled or called the management API for this long."`
	SSFLongPoll         Duration `name:"ssf-long-poll" env:"SSF_LONG_POLL" default:"20s" help:"Longest a poll that asked to wait is held open when there is nothing to deliver (at most 25s)."`
	SSFPushInterval     Duration `name:"ssf-push-interval" env:"SSF_PUSH_INTERVAL" default:"100ms" help:"How often each instance looks for new security events to push or to hand to waiting polls."`
	SSFPushBackoff      Duration `name:"ssf-push-backoff" env:"SSF_PUSH_BACKOFF" default:"1s" help:"First wait before a failed push is retried; it doubles up to SSF_PUSH_BACKOFF_MAX."`
	SSFPushBackoffMax   Duration `name:"ssf-push-backoff-max" env:"SSF_PUSH_BACKOFF_MAX" default:"1m" help:"Longest wait between retries of a failed push."`
	SSFPushLease        Duration `name:"ssf-push-lease" env:"SSF_PUSH_LEASE" default:"10s" help:"How long an instance holds the right to push a stream between renewals; a stopped instance's streams move to another within it."`
	SSFPushLoopback     Switch   `name:"ssf-push-loopback" env:"SSF_PUSH_LOOPBACK" default:"off" help:"on: streams may push to loopback addresses in production too (always allowed in development)."`

	PasswordHashConcurrency int      `name:"password-hash-concurrency" env:"PASSWORD_HASH_CONCURRENCY" default:"0" help:"Most argon2id hashes computed at once (each takes about 20 MB); 0: half the CPUs the process may use (GOMAXPROCS at start, which follows a container's CPU limit), at least one."`
	KeyReloadInterval       Duration `name:"key-reload-interval" env:"KEY_RELOAD_INTERVAL" default:"30s" help:"How often an instance re-reads signing keys from the database (picks up rotations by other instances)."`
	ShutdownDrainDelay      Duration `name:"shutdown-drain-delay" env:"SHUTDOWN_DRAIN_DELAY" default:"0s" help:"On SIGTERM, how long the server keeps serving with GET /readyz answering 503 before it stops listening (load balancers stop routing to it meanwhile); 0: stop listening at once."`
	ShutdownTimeout         Duration `name:"shutdown-timeout" env:"SHUTDOWN_TIMEOUT" default:"10s" help:"How long a stopping server waits for requests in flight; then it closes their connections."`
	LogLevel                string   `name:"log-level" env:"LOG_LEVEL" default:"info" help:"debug, info, warn or error."`
	LogFormat               string   `name:"log-format" env:"LOG_FORMAT" default:"json" help:"json or text."`
}

// MaxLongPoll is the largest SSF_LONG_POLL: a waiting poll must answer
// before the HTTP server's 30s write timeout.
const MaxLongPoll = 25 * time.Second

// Production reports whether APP_ENV is production.
func (c Config) Production() bool { return c.AppEnv == EnvProduction }

// DialectEnabled reports whether the named dialect (latchkey.Canonical, …) is
// switched on by DIALECTS.
func (c Config) DialectEnabled(name string) bool { return slices.Contains(c.Dialects, name) }

// Issuer returns the iss of tokens and of the RFC 8414 metadata: JWT_ISSUER
// if set, else PUBLIC_URL, else "http://" + HTTP_ADDR with an empty or
// unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") replaced by
// localhost. RFC 8414 §3.3 requires it to equal the URL clients use, so set
// PUBLIC_URL behind a proxy.
func (c Config) Issuer() string {
	if c.JWTIssuer != "" {
		return c.JWTIssuer
	}
	if c.PublicURL != "" {
		return c.PublicURL
	}
	host, port, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil { // Validate refuses this; keep the raw address
		return "http://" + c.HTTPAddr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// StartProcs is GOMAXPROCS as the process started with it: the CPUs it may
// use. Go's default follows the machine's CPUs and, in a container, the
// cgroup CPU limit (rounded up); a GOMAXPROCS variable overrides both. It is
// read once, at package initialisation, because `latchkey serve` later raises
// GOMAXPROCS above it (server.TuneRuntime).
var StartProcs = runtime.GOMAXPROCS(0)

// HashConcurrency returns PASSWORD_HASH_CONCURRENCY, with 0 meaning
// HashConcurrencyFor(StartProcs).
func (c Config) HashConcurrency() int {
	if c.PasswordHashConcurrency > 0 {
		return c.PasswordHashConcurrency
	}
	return HashConcurrencyFor(StartProcs)
}

// HashConcurrencyFor is the default hash concurrency for a process that may
// use procs CPUs: half of them, at least one. argon2id is CPU-bound, and with
// a hash per CPU a sign-in flood takes every core and starves the refreshes
// every client depends on (docs/performance.md measured refresh p99 ~4x
// unloaded with one hash per CPU on 2 cores, ~1.5-2x with one). Counting the
// CPUs the process may use rather than the machine's (runtime.NumCPU) keeps a
// pod limited to 2 CPUs on a 64-CPU node at one hash, and its memory with it.
func HashConcurrencyFor(procs int) int {
	return max(1, procs/2)
}

// SlogLevel returns LOG_LEVEL as a slog.Level (info when invalid; Validate
// refuses invalid levels).
func (c Config) SlogLevel() slog.Level {
	switch c.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// PublicBase returns PUBLIC_URL, else the issuer: the base of the links
// the e-mails carry by default.
func (c Config) PublicBase() string {
	if c.PublicURL != "" {
		return c.PublicURL
	}
	return c.Issuer()
}

// ResetLink returns PASSWORD_RESET_URL, or its default, the account
// page's reset form.
func (c Config) ResetLink() string {
	if c.PasswordResetURL != "" {
		return c.PasswordResetURL
	}
	return c.PublicBase() + "/#reset="
}

// VerifyLink returns EMAIL_VERIFICATION_URL, or its default, the account
// page.
func (c Config) VerifyLink() string {
	if c.EmailVerificationURL != "" {
		return c.EmailVerificationURL
	}
	return c.PublicBase() + "/#verify="
}
