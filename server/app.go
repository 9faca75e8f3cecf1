package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/httpapi/ratelimit"
	"github.com/latchkey-dev/latchkey/mail"
	"github.com/latchkey-dev/latchkey/metrics"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/ssf"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/backend"
	"github.com/latchkey-dev/latchkey/store/postgres"
	"github.com/latchkey-dev/latchkey/token"
)

// AccessLeeway is the clock skew tolerated on access tokens verified
// elsewhere (a few seconds at most; refresh tokens get none).
const AccessLeeway = latchkey.AccessLeeway

// Options are the parts of the wiring that are not configuration: tests
// inject a clock and cheap password hashing here, never through settings.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// HashParams defaults to password.Default (argon2id m=19 MiB, t=2, p=1).
	HashParams *password.Params
	// RedisKeyPrefix namespaces the rate-limit keys in the REDIS_URL Redis
	// (ratelimit.DefaultRedisPrefix when empty); tests use one each.
	RedisKeyPrefix string
	// MailTLS is the TLS configuration of the connection to SMTP_URL's
	// server (nil: the system's roots); tests trust their own CA here.
	MailTLS *tls.Config
}

// App is an opened Latchkey: store, token issuer and domain service.
type App struct {
	Config  config.Config
	Store   store.Store
	Tokens  *token.Issuer // mints and verifies tokens (Latchkey.Tokens)
	Service *auth.Service
	// Latchkey is the mounted library handler the HTTP routes come from.
	Latchkey *latchkey.Handler
	Logger   *slog.Logger
	// Metrics are served at GET /metrics (on METRICS_ADDR when set).
	Metrics *metrics.Metrics
	// Transmitter is the Shared Signals transmitter (nil when SSF=off).
	Transmitter *ssf.Transmitter

	now       func() time.Time
	closeRL   func() error // closes the Redis client of a shared limiter
	closeOnce sync.Once
	draining  atomic.Bool // set when the server is asked to stop: /readyz answers 503

	// The e-mail sender (mail.go), started by StartMail.
	mailSender    *mail.Sender
	mailTemplates []string // the templates MAIL_TEMPLATES_DIR replaced
	mailOnce      sync.Once
	stopMail      context.CancelFunc
	mailDone      chan struct{}
}

// OpenStore opens DATABASE_URL with the DATABASE_* settings, through
// backend.Open (the function an embedding application calls). It does not
// migrate.
func OpenStore(ctx context.Context, cfg config.Config) (backend.Store, error) {
	st, err := backend.Open(ctx, cfg.DatabaseURL, backend.Options{Postgres: postgres.Options{
		MaxConns: int32(cfg.DatabaseMaxConns), MinConns: int32(cfg.DatabaseMinConns),
		MaxConnLifetime: cfg.DatabaseMaxConnLifetime.D(), Schema: cfg.DatabaseSchema, QueryTimeout: cfg.DatabaseQueryTimeout.D(),
	}})
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	return st, nil
}

// Open builds an App over an opened, migrated store: it maps the settings
// onto latchkey.Options and calls latchkey.New, the same code path an
// embedding application uses.
func Open(ctx context.Context, cfg config.Config, st store.Store, o Options) (*App, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	refreshSecret, err := secret(ctx, st, cfg, "refresh_token_secret", cfg.RefreshTokenSecret, "REFRESH_TOKEN_SECRET")
	if err != nil {
		return nil, err
	}
	var hs []byte
	if cfg.JWTAlgorithm == token.HS256 {
		if hs, err = secret(ctx, st, cfg, "jwt_secret", cfg.JWTSecret, "JWT_SECRET"); err != nil {
			return nil, err
		}
	}
	params := password.Default
	if o.HashParams != nil {
		params = *o.HashParams
	}
	conc := cfg.HashConcurrency()
	hasher := password.New(params, conc, 4*conc)
	hasher.OnPriorityError(func(err error) {
		log.Warn("password hashes run at normal CPU priority: lowering the hash thread's priority failed "+
			"(a seccomp filter refusing setpriority, such as systemd's SystemCallFilter=~@resources?); "+
			"a sign-in flood now competes with refreshes on equal terms", "err", err)
	})
	pol := PolicyOf(cfg)
	lo := latchkey.Options{
		Store: st, Issuer: cfg.Issuer(), PublicURL: cfg.PublicURL, Audience: cfg.JWTAudience, RefreshSecret: refreshSecret,
		Algorithm: cfg.JWTAlgorithm, HS256Secret: hs, Policy: &pol, Dialects: cfg.Dialects,
		CORSOrigins: cfg.CORSAllowedOrigins, TrustedProxies: cfg.TrustedProxies, Now: now, Logger: log,
		Hasher: hasher, RetiredKeyTTL: RetiredKeyPublished(cfg),
		// Purges are `latchkey purge`'s job, from a scheduler
		// (docs/infrastructure.md).
		KeyReloadInterval: cfg.KeyReloadInterval.D(), PurgeInterval: -1,
		DPoP: cfg.DPoP, DPoPNonce: cfg.DPoPNonce.On(), DPoPProofLifetime: cfg.DPoPProofLifetime.D(),
	}
	if cfg.RefreshCookie.On() {
		lo.CookieName, lo.SecureCookie = cfg.RefreshCookieName, cfg.Production()
	}
	if cfg.AccessTokenRenewal.On() {
		lo.Renew = latchkey.AllowRenewal
	}
	a := &App{Config: cfg, Store: st, Logger: log, Metrics: metrics.New(), now: now}
	lo.Observer, lo.Instrument = a.Metrics, a.Metrics.Middleware
	a.Metrics.WatchHasher(hasher)
	a.Metrics.WatchDatabase(st.Ping)
	if lo.Mailer, err = a.openMail(st, refreshSecret, o.MailTLS); err != nil {
		return nil, err
	}
	lo.Throttle = ratelimit.Off{} // RATE_LIMITS=off
	if cfg.RateLimits.On() {
		th, err := a.openThrottle(ctx, o.RedisKeyPrefix)
		if err != nil {
			return nil, err
		}
		lo.Throttle = th
	}
	lk, err := latchkey.New(ctx, lo)
	if err != nil {
		a.closeLimiter()
		return nil, err
	}
	a.Latchkey, a.Tokens, a.Service = lk, lk.Tokens, lk.Service
	if cfg.SSF.On() {
		if a.Transmitter, err = openTransmitter(cfg, st, lk.Tokens, now, log); err != nil {
			a.closeLimiter()
			return nil, err
		}
		a.Metrics.WatchFeed(st.(store.Feed), now) // openTransmitter checked it is one
	}
	return a, nil
}

// openTransmitter builds the SSF transmitter from the SSF_* settings.
// Pushes may go to loopback addresses in development, and in production
// only with SSF_PUSH_LOOPBACK=on.
func openTransmitter(cfg config.Config, st store.Store, tokens *token.Issuer, now func() time.Time, log *slog.Logger) (*ssf.Transmitter, error) {
	feed, ok := st.(store.Feed)
	if !ok {
		return nil, errors.New("SSF: this store keeps no security events; set SSF=off")
	}
	return ssf.New(ssf.Options{Feed: feed, Tokens: tokens, Issuer: cfg.Issuer(), AccessTTL: cfg.JWTExpiresIn.D(),
		Leeway: AccessLeeway, LongPoll: cfg.SSFLongPoll.D(), WatchInterval: cfg.SSFPushInterval.D(),
		PushBackoff: cfg.SSFPushBackoff.D(), PushBackoffMax: cfg.SSFPushBackoffMax.D(), PushLease: cfg.SSFPushLease.D(),
		Inactivity: cfg.SSFStreamInactivity.D(), AllowLoopback: !cfg.Production() || cfg.SSFPushLoopback.On(),
		ServeJWKS: !cfg.DialectEnabled(latchkey.OAuth2), Now: now, Logger: log})
}

// SSFRetention is how long security events are kept: every access token
// they concern has expired by then (JWT_EXPIRES_IN and the leeway), plus
// SSF_RETENTION_MARGIN.
func SSFRetention(cfg config.Config) time.Duration {
	return cfg.JWTExpiresIn.D() + AccessLeeway + cfg.SSFRetentionMargin.D()
}

// RetiredKeyPublished is how long a retired signing key stays published and
// accepted. An instance keeps signing with a key for up to
// KEY_RELOAD_INTERVAL after another instance (or latchkey keys rotate)
// retired it, and what it signs then lives JWT_EXPIRES_IN more: so the
// interval counts, beside the access lifetime and the leeway.
func RetiredKeyPublished(cfg config.Config) time.Duration {
	return cfg.JWTExpiresIn.D() + AccessLeeway + cfg.KeyReloadInterval.D()
}

// openThrottle returns the RATE_LIMIT_* throttle: on a Redis shared by every
// instance when REDIS_URL is set, else in this process's memory. An
// unreachable Redis is not a start-up error: the throttle falls back to
// memory until it answers (see throttle), and a warning says so.
func (a *App) openThrottle(ctx context.Context, prefix string) (*ratelimit.Throttle, error) {
	mem := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: a.now})
	if a.Config.RedisURL == "" {
		return newThrottle(mem, nil, a.Config, a.Logger, a.Metrics), nil
	}
	rc, err := ratelimit.NewRedisClient(a.Config.RedisURL)
	if err != nil {
		return nil, err
	}
	a.closeRL = rc.Close
	// A quick look, so a wrong REDIS_URL is reported at start; it never
	// fails the start (and costs the CLI commands little: they open an App too).
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := rc.Ping(pctx).Err(); err != nil {
		a.Logger.Warn("REDIS_URL: Redis does not answer; rate limits are per instance until it does", "err", err)
	}
	return newThrottle(ratelimit.NewRedis(rc, ratelimit.RedisOptions{Prefix: prefix, Now: a.now}), mem, a.Config, a.Logger, a.Metrics), nil
}

// PolicyOf maps the lifetime and rotation settings (JWT_EXPIRES_IN,
// JWT_REFRESH_EXPIRES_IN, SESSION_MAX_LIFETIME, REFRESH_TOKEN_ROTATION,
// REFRESH_TOKEN_REUSE_INTERVAL, MAX_SESSIONS_PER_USER) onto the domain's
// policy.
// AccessRenewal is left to latchkey.New, which sets it from Options.Renew
// (ACCESS_TOKEN_RENEWAL=on passes latchkey.AllowRenewal).
func PolicyOf(cfg config.Config) auth.Policy {
	return auth.Policy{
		AccessTTL: cfg.JWTExpiresIn.D(), RefreshTTL: cfg.JWTRefreshExpiresIn.D(), SessionMaxLifetime: cfg.SessionMaxLifetime.D(),
		Rotation: cfg.RefreshTokenRotation.On(), ReuseInterval: cfg.RefreshTokenReuseInterval.D(),
		MaxSessionsPerUser: cfg.MaxSessionsPerUser,
		PasswordResetTTL:   cfg.PasswordResetExpiresIn.D(), EmailVerificationTTL: cfg.EmailVerificationExpiresIn.D(),
		RequireEmailVerification: cfg.RequireEmailVerification.On(),
	}
}

// secret returns the configured value, or in development a random secret
// generated once and kept in the database (so every instance and every
// restart agrees). In production a missing secret is an error (config
// validation reports it first).
func secret(ctx context.Context, st store.Store, cfg config.Config, name, configured, env string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	if cfg.Production() {
		return nil, fmt.Errorf("%s: required when APP_ENV=production", env)
	}
	v, err := st.Secret(ctx, name, func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: generate development secret: %w", env, err)
	}
	return v, nil
}

// ReloadKeys reads the signing keys from the store now.
func (a *App) ReloadKeys(ctx context.Context) error { return a.Latchkey.ReloadKeys(ctx) }

// closeLimiter closes the Redis client of a shared rate limiter, if any.
func (a *App) closeLimiter() {
	if a.closeRL != nil {
		_ = a.closeRL()
	}
}

// Close stops background work (the reloads of the signing keys every
// KEY_RELOAD_INTERVAL, which latchkey.New started) and closes the store.
func (a *App) Close() error {
	var err error
	a.closeOnce.Do(func() {
		a.stopMailSender()
		if a.Transmitter != nil {
			a.Transmitter.Close() // before what it uses: the keys, the store
		}
		_ = a.Latchkey.Close()
		a.closeLimiter()
		err = a.Store.Close()
	})
	return err
}
