package latchkey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/dpop"
	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/httpapi/canonical"
	"github.com/latchkey-dev/latchkey/httpapi/ratelimit"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

// The dialect names: each mounts one HTTP adapter (routes.go). They are
// also the names the DIALECTS setting accepts. Options.Dialects nil means
// all of them.
const (
	// Canonical is Latchkey's own camelCase JSON API (/auth/*, /token).
	Canonical = "canonical"
	// OAuth2 is RFC 6749 /oauth/token, RFC 7009 revocation, RFC 7662
	// introspection and RFC 8414 metadata.
	OAuth2 = "oauth2"
	// Login is the login-URL refresh aurelia-authentication uses
	// (/auth/login with grant_type=refresh_token).
	Login = "login"
	// Cookie is the HttpOnly refresh cookie and GET /api/refresh/refreshtoken.
	Cookie = "cookie"
	// Feathers is FeathersJS's /authentication service.
	Feathers = "feathers"
)

// AllDialects returns every dialect, in the order DIALECTS prints them (a
// new slice each time: changing it changes nothing else).
func AllDialects() []string { return []string{Canonical, OAuth2, Login, Cookie, Feathers} }

// AccessLeeway is the clock skew tolerated on access tokens.
const AccessLeeway = 5 * time.Second

// Options configure New. Store, Issuer and RefreshSecret are required.
type Options struct {
	// Store keeps sessions and signing keys, and the built-in users unless
	// Users is set. It must be migrated (store/sqlite and store/postgres
	// have Migrate).
	Store store.Store
	// Users are the application's own accounts; nil uses the built-in users
	// in Store (then sign-up is available).
	Users auth.Users
	// Issuer is the iss of every token and the base URL clients use for this
	// handler, prefix included (e.g. "https://app.example.com/auth"); the
	// OAuth metadata's issuer. No trailing slash (CheckIssuer).
	Issuer string
	// PublicURL is the external base URL of this handler, prefix included,
	// when it is not Issuer: the OAuth metadata's endpoint URLs are built
	// from it (from Issuer when empty), and a browser page of its origin is
	// same-origin for the refresh cookie's cross-site rule. The same form
	// as Issuer (CheckIssuer).
	PublicURL string
	// Prefix is the path the handler is mounted under ("" or e.g. "/auth");
	// New strips it, and the refresh cookie's Path includes it.
	Prefix string
	// Audience is the aud of access tokens ("latchkey" when empty).
	Audience string
	// RefreshSecret signs refresh tokens (HS256), at least 32 bytes. Keep it
	// secret and the same on every instance.
	RefreshSecret []byte
	// Algorithm signs access tokens: ES256 (default), EdDSA, RS256, or HS256
	// with HS256Secret.
	Algorithm   string
	HS256Secret []byte
	// Keys, when set, are the signing keys to use; otherwise they are read
	// from Store (and a first key is made when there is none).
	Keys []store.SigningKey
	// RetiredKeyTTL is how long a retired signing key stays published and
	// accepted: at least (and by default) the access-token lifetime plus
	// AccessLeeway plus KeyReloadInterval, how long other instances may keep
	// signing with it before they reload their keys.
	RetiredKeyTTL time.Duration
	// Policy holds lifetimes and switches; nil means auth.DefaultPolicy().
	// A Policy given here is used as it is, not merged with the defaults, so
	// start from auth.DefaultPolicy() and change what differs: New refuses
	// one whose lifetimes are missing (naming the field). AccessRenewal is
	// decided by Renew below.
	Policy *auth.Policy
	// Dialects to mount; nil means AllDialects(). New keeps its own copy.
	Dialects []string
	// CookieName, when not empty, makes every sign-in also set the refresh
	// token as an HttpOnly cookie of that name; SecureCookie adds Secure and
	// SameSite=Strict (production).
	CookieName   string
	SecureCookie bool
	// CORSOrigins are the browser origins allowed to call cross-site.
	CORSOrigins []string
	// TrustedProxies are the proxies whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// MiddlewareDPoP configures how Authenticator and Middleware check the
	// DPoP proofs of bound access tokens on the host's own routes (RFC 9449
	// §7): the URL clients call them at when a proxy is in front, the
	// algorithms, the replay cache, nonces. The zero value takes the
	// request's own URL and remembers proofs in memory.
	MiddlewareDPoP DPoPOptions
	// Now is the clock (time.Now when nil); Logger gets audit events and
	// the access log (slog.Default when nil).
	Now    func() time.Time
	Logger *slog.Logger
	// Hasher checks built-in users' passwords; nil means argon2id with the
	// production parameters and one hash at a time per CPU the process may
	// use (GOMAXPROCS, which follows a container's CPU limit).
	Hasher *password.Hasher
	// Throttle rate-limits sign-ins and refreshes. Nil means the default
	// limits (ratelimit.DefaultLimits: 10 failed sign-ins per account and 50
	// per client IP in 15 minutes, 100 sign-ins and 6,000 refreshes per
	// client IP a minute) counted in this process's memory, on the clock Now.
	// Build a ratelimit.Throttle for other limits or for counts shared by
	// every instance (a Redis), or pass ratelimit.Off{} to switch the limits
	// off (another layer limits already).
	Throttle auth.Throttle
	// KeyReloadInterval is how often the signing keys are read again from
	// Store, so that a key rotated by another instance (or by `latchkey keys
	// rotate`) is used here too, and a retired one stops being published
	// (default 30s; negative: never). A token naming a key this instance
	// has not loaded makes Middleware reload at once, at most once per
	// UnknownKeyReloadInterval. The reloads run in a goroutine that Close
	// stops; none runs when Keys is set. New refuses a positive value under
	// MinJobInterval (a number written without its unit).
	KeyReloadInterval time.Duration
	// PurgeInterval is how often sessions that have expired or were revoked,
	// and signing keys retired longer than RetiredKeyTTL, are deleted
	// (Service.Purge), in a goroutine that Close stops (default 1h;
	// negative: never, when the application schedules purges itself). Each
	// instance purging is harmless: a purge only deletes rows nothing can
	// use any more. New refuses a positive value under MinJobInterval.
	PurgeInterval time.Duration
	// Observer receives sign-in and refresh outcomes (metrics).
	Observer auth.Observer
	// Mailer composes the e-mails of password reset and e-mail verification
	// (a *mail.Composer); the messages go to Store's mail queue, and a
	// mail.Sender the application runs delivers them. Nil: POST
	// /auth/recover, /auth/verify and /auth/verify/resend answer 501, and
	// Policy.RequireEmailVerification cannot be on.
	Mailer auth.Mailer
	// Instrument, when set, wraps every request inside the access log and
	// outside panic recovery, after the route is matched (r.Pattern is set
	// when it returns): the place for HTTP metrics.
	Instrument func(http.Handler) http.Handler
	// Claims adds claims to every access token (Feathers' getPayload).
	Claims auth.ClaimsFunc
	// Renew authorises bearer renewal (POST /token/refresh: a still-valid
	// access token buys a new one). nil: renewal is not provided and the
	// route answers 501 Not Implemented. AllowRenewal renews for any live
	// session.
	Renew func(ctx context.Context, p auth.Principal) error
	// TokenResponse reshapes canonical token responses (kind is "sign-in",
	// "refresh" or "renew").
	TokenResponse func(r *http.Request, kind string, resp canonical.TokenResponse) any
	// DPoP is the policy for DPoP proofs (RFC 9449) on the requests that
	// mint tokens: DPoPAllowed (the default, ""): a sign-in with a proof
	// binds the session to the proof's key, bearer clients still work;
	// DPoPRequired: a token request without a proof is refused; DPoPOff:
	// proofs on token requests are ignored (every new session is bearer).
	// Tokens bound to a key always need its proofs.
	DPoP string
	// DPoPNonce makes every proof carry a server nonce (RFC 9449 §8), sent
	// in the DPoP-Nonce header of every response. Nonces are derived from
	// a secret kept in Store, so every instance issues and accepts the
	// same ones; they rotate every DPoPNonceStep (default 5 minutes), the
	// previous one staying valid for one more step.
	DPoPNonce     bool
	DPoPNonceStep time.Duration
	// DPoPProofLifetime is how long after its iat a proof is accepted
	// (default 60s); the clock leeway is 5s either way.
	DPoPProofLifetime time.Duration
	// DPoPPurgeInterval is how often the replay cache's expired proofs are
	// deleted from Store (default 1m; negative: never, when the application
	// purges itself). A busy server records one row per proof, so they are
	// purged far more often than sessions; each instance doing it is
	// harmless. New refuses a positive value under MinJobInterval.
	DPoPPurgeInterval time.Duration
}

// DefaultDPoPPurgeInterval is Options.DPoPPurgeInterval's default.
const DefaultDPoPPurgeInterval = time.Minute

// The DPoP policies (Options.DPoP, the DPOP setting).
const (
	DPoPOff      = httpapi.DPoPOff
	DPoPAllowed  = httpapi.DPoPAllowed
	DPoPRequired = httpapi.DPoPRequired
)

// AllowRenewal is a Renew hook that renews access tokens for every live
// session.
func AllowRenewal(context.Context, auth.Principal) error { return nil }

// Handler is a mounted Latchkey. It is an http.Handler.
type Handler struct {
	// Service is the domain, for the host's own use (admin tasks, tests).
	Service *auth.Service
	// Tokens mints and verifies tokens; its JWKS is served by the oauth2
	// dialect.
	Tokens *token.Issuer
	opts   Options
	dpop   *httpapi.DPoP
	h      http.Handler
	reload flight // reloads of the signing keys for unknown key ids
	// resourceDPoP checks proofs for Authenticator, one replay cache for
	// every route the host protects.
	resourceDPoP *dpopCheck

	proxyWarned atomic.Bool // the undeclared-proxy warning was logged (routes.go)

	jobsCtx   context.Context // cancelled by Close: the background jobs end
	stopJobs  context.CancelFunc
	jobs      sync.WaitGroup
	closeOnce sync.Once
}

// CheckIssuer refuses a URL that cannot be the RFC 8414 issuer or the base
// of the handler's endpoints: it must be an absolute http or https URL with
// a host and no user, query or fragment (RFC 8414 §2), and no trailing
// slash, since endpoint URLs are built by appending paths to it and the
// value must match, to the letter, the iss resource servers expect; a
// slash is refused rather than trimmed.
func CheckIssuer(s string) error {
	const want = "want an absolute URL such as https://auth.example.com"
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs() || u.Opaque != "":
		return fmt.Errorf("invalid issuer %q: %s", s, want)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("invalid issuer %q: scheme must be http or https; %s", s, want)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("invalid issuer %q: no host; %s", s, want)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.Contains(s, "#"):
		return fmt.Errorf("invalid issuer %q: an issuer has no user, query or fragment (RFC 8414 §2)", s)
	case strings.HasSuffix(s, "/"):
		return fmt.Errorf("invalid issuer %q: remove the trailing slash (endpoints would be %s/oauth/token)", s, s)
	}
	return nil
}

// New builds the handler: it loads (or makes) the signing keys, builds the
// domain service and mounts the dialects.
func New(ctx context.Context, o Options) (*Handler, error) {
	if o.Store == nil {
		return nil, errors.New("latchkey: Options.Store is required")
	}
	if o.Issuer == "" {
		return nil, errors.New("latchkey: Options.Issuer is required")
	}
	if err := CheckIssuer(o.Issuer); err != nil {
		return nil, fmt.Errorf("latchkey: Options.Issuer: %w", err)
	}
	if o.PublicURL != "" {
		if err := CheckIssuer(o.PublicURL); err != nil {
			return nil, fmt.Errorf("latchkey: Options.PublicURL: %w", err)
		}
	}
	if o.Audience == "" {
		o.Audience = "latchkey"
	}
	if o.Algorithm == "" {
		o.Algorithm = token.ES256
	}
	if !token.ValidAlgorithm(o.Algorithm) {
		return nil, fmt.Errorf("latchkey: unknown algorithm %q", o.Algorithm)
	}
	if o.Dialects == nil {
		o.Dialects = AllDialects()
	}
	o.Dialects = slices.Clone(o.Dialects)
	o.Prefix = strings.TrimRight(o.Prefix, "/")
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"KeyReloadInterval", o.KeyReloadInterval}, {"PurgeInterval", o.PurgeInterval}, {"DPoPPurgeInterval", o.DPoPPurgeInterval}} {
		// A number without its unit (30, meaning seconds) is nanoseconds: the
		// job would run back to back against the store.
		if f.d > 0 && f.d < MinJobInterval {
			return nil, fmt.Errorf("latchkey: Options.%s is %v: a time.Duration counts nanoseconds (write 30 * time.Second); "+
				"at least %v, or negative for never", f.name, f.d, MinJobInterval)
		}
	}
	pol := auth.DefaultPolicy()
	if o.Policy != nil {
		pol = *o.Policy
		if err := pol.Validate(); err != nil {
			return nil, fmt.Errorf("latchkey: Options.%w", err)
		}
	}
	pol.AccessRenewal = o.Renew != nil
	if pol.RequireEmailVerification && o.Mailer == nil {
		return nil, errors.New("latchkey: Policy.RequireEmailVerification needs Options.Mailer: no one could verify an address")
	}
	// Another instance may sign with a retired key until its next reload,
	// and what it signs then lives AccessTTL more.
	if least := pol.AccessTTL + AccessLeeway + orDefault(o.KeyReloadInterval, DefaultKeyReloadInterval); o.RetiredKeyTTL < least {
		o.RetiredKeyTTL = least
	}
	// An algorithm no proof can be checked with would be dropped silently,
	// and a list of nothing else refuses every bound token.
	for _, alg := range o.MiddlewareDPoP.Algs {
		if !slices.Contains(dpop.DefaultAlgs(), alg) {
			return nil, fmt.Errorf("latchkey: Options.MiddlewareDPoP.Algs has %q: a proof algorithm is one of %q", alg, dpop.DefaultAlgs())
		}
	}
	if o.Throttle == nil {
		o.Throttle = ratelimit.NewThrottle(ratelimit.ThrottleOptions{Limits: ratelimit.DefaultLimits(), Now: o.Now, Logger: o.Logger})
	}
	if o.Hasher == nil {
		n := runtime.GOMAXPROCS(0)
		o.Hasher = password.New(password.Default, n, 4*n)
	}
	iss, err := token.NewIssuer(token.Options{Issuer: o.Issuer, Audience: o.Audience, RefreshSecret: o.RefreshSecret,
		Leeway: AccessLeeway, PublishRetiredFor: o.RetiredKeyTTL, Now: o.Now})
	if err != nil {
		return nil, fmt.Errorf("latchkey: %w", err)
	}
	h := &Handler{Tokens: iss, opts: o, resourceDPoP: newDPoPCheck(o.MiddlewareDPoP, o.Now)}
	h.reload = flight{now: o.Now, minGap: UnknownKeyReloadInterval, maxGap: time.Minute, run: func(time.Time) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return h.ReloadKeys(ctx)
	}}
	if err := h.ReloadKeys(ctx); err != nil {
		return nil, fmt.Errorf("latchkey: signing keys: %w", err)
	}
	if h.dpop, err = newDPoP(ctx, o); err != nil {
		return nil, err
	}
	h.Service = auth.New(auth.Options{Store: o.Store, Tokens: iss, Hasher: o.Hasher, Policy: pol, Now: o.Now, Logger: o.Logger,
		Throttle: o.Throttle, Claims: o.Claims, Users: o.Users, Renew: o.Renew, Observer: o.Observer, VerifyAccess: h.verifyAccess,
		Mailer: o.Mailer})
	if h.h, err = h.routes(); err != nil {
		return nil, err
	}
	h.startJobs()
	return h, nil
}

// ReloadKeys reads the signing keys again (from Options.Keys, else from the
// store), so a rotation made by another instance or by `latchkey keys
// rotate` takes effect here.
func (h *Handler) ReloadKeys(ctx context.Context) error {
	if h.opts.Keys != nil {
		return h.Tokens.SetKeys(h.opts.Keys)
	}
	return h.Tokens.LoadKeys(ctx, h.opts.Store, h.opts.Algorithm, h.opts.HS256Secret)
}

// ServeHTTP serves the mounted dialects.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.h.ServeHTTP(w, r) }

// enabled reports whether dialect d is mounted.
func (h *Handler) enabled(d string) bool {
	for _, x := range h.opts.Dialects {
		if x == d {
			return true
		}
	}
	return false
}

// ip returns the client-address resolver.
func (h *Handler) ip() httpapi.ClientIP { return httpapi.ClientIP{Trusted: h.opts.TrustedProxies} }
