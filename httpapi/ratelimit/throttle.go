package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
)

// The names of a Throttle's limits: the value of the limit label of the
// rate-limit metrics, and what the audit event of a refusal says.
const (
	LimitSigninFailuresAccount = "signin_failures_account"
	LimitSigninFailuresIP      = "signin_failures_ip"
	LimitSigninIP              = "signin_ip"
	LimitRefreshIP             = "refresh_ip"
	LimitSignupIP              = "signup_ip"
	LimitSignupGlobal          = "signup_global"
	// The limits of the requests that send e-mail.
	LimitPasswordResetAccount      = "password_reset_account"
	LimitPasswordResetIP           = "password_reset_ip"
	LimitVerificationResendAccount = "verification_resend_account"
	LimitVerificationResendIP      = "verification_resend_ip"
)

// Limits are a Throttle's limits, one per RATE_LIMIT_* setting. A Limit
// that is Unlimited switches that one off.
type Limits struct {
	SigninFailuresPerAccount Limit // failed sign-ins per account (RATE_LIMIT_SIGNIN_FAILURES_ACCOUNT)
	SigninFailuresPerIP      Limit // failed sign-ins per client IP (RATE_LIMIT_SIGNIN_FAILURES_IP)
	SigninsPerIP             Limit // all sign-ins per client IP (RATE_LIMIT_SIGNIN_IP)
	RefreshesPerIP           Limit // refreshes per client IP (RATE_LIMIT_REFRESH_IP)
	// Sign-ups, checked before the password is hashed: per client IP
	// (RATE_LIMIT_SIGNUP_IP), then from everyone (RATE_LIMIT_SIGNUP_GLOBAL).
	SignupsPerIP Limit
	Signups      Limit
	// Requests that send e-mail, per address (counted alike for every
	// address, a user's or not) and per client IP: password-reset requests
	// (RATE_LIMIT_PASSWORD_RESET_ACCOUNT, RATE_LIMIT_PASSWORD_RESET_IP) and
	// verification resends (RATE_LIMIT_VERIFICATION_RESEND_ACCOUNT,
	// RATE_LIMIT_VERIFICATION_RESEND_IP). A password change is limited as
	// a sign-in is (the failure limits above).
	PasswordResetsPerAccount      Limit
	PasswordResetsPerIP           Limit
	VerificationResendsPerAccount Limit
	VerificationResendsPerIP      Limit
	// IPv6Prefix is how the per-IP limits count an IPv6 client: by its /N
	// network (RATE_LIMIT_IPV6_PREFIX), since a host is usually given a
	// whole /64 and could otherwise take a new address for every attempt.
	// 0 or 128 and above: by its address.
	IPv6Prefix int
}

// DefaultLimits returns the settings' defaults: 10 failed sign-ins per
// account and 50 per IP in 15 minutes, 100 sign-ins and 6,000 refreshes per
// IP a minute (generous: many users may share a proxy's address), 20
// sign-ups per IP an hour and 300 from everyone a minute, 5 password-reset
// requests and 5 verification resends per address and 30 per IP an hour,
// an IPv6 client counted by its /64.
func DefaultLimits() Limits {
	return Limits{
		SigninFailuresPerAccount:      Limit{Count: 10, Per: 15 * time.Minute},
		SigninFailuresPerIP:           Limit{Count: 50, Per: 15 * time.Minute},
		SigninsPerIP:                  Limit{Count: 100, Per: time.Minute},
		RefreshesPerIP:                Limit{Count: 6000, Per: time.Minute},
		SignupsPerIP:                  Limit{Count: 20, Per: time.Hour},
		Signups:                       Limit{Count: 300, Per: time.Minute},
		PasswordResetsPerAccount:      Limit{Count: 5, Per: time.Hour},
		PasswordResetsPerIP:           Limit{Count: 30, Per: time.Hour},
		VerificationResendsPerAccount: Limit{Count: 5, Per: time.Hour},
		VerificationResendsPerIP:      Limit{Count: 30, Per: time.Hour},
		IPv6Prefix:                    64,
	}
}

// ThrottleObserver is told about refusals and limiter failures (metrics).
type ThrottleObserver interface {
	RateLimited(limit string) // a request refused by the named limit
	LimiterError()            // a call to the Limiter failed
}

// ThrottleOptions configure NewThrottle.
type ThrottleOptions struct {
	Limits Limits
	// Limiter keeps the counts: a Redis shared by every instance
	// (NewRedis), or this process's memory (NewMemory, with Now) when nil.
	Limiter Limiter
	// Fallback is used while Limiter fails (a shared Redis that cannot be
	// reached): an in-memory Limiter keeps the limits on, per instance. Nil
	// lets requests through while Limiter fails.
	Fallback Limiter
	Logger   *slog.Logger     // warnings about a failing Limiter (slog.Default when nil)
	Observer ThrottleObserver // optional
	Now      func() time.Time // the in-memory Limiter's clock (time.Now when nil)
}

// Throttle enforces Limits for the domain (an auth.Throttle and an
// auth.SignUpThrottle): failed sign-ins per account and per IP, all
// sign-ins per IP, refreshes per IP, sign-ups per IP and from everyone.
// Keys never hold a raw email: the account key is a hash.
//
// When the Limiter fails, the Throttle falls back to the Fallback limiter
// instead of refusing every sign-in: limits stay on, only no longer shared,
// and a warning is logged (at most every warnEvery) and counted.
type Throttle struct {
	l, fallback Limiter
	lim         Limits
	log         *slog.Logger
	obs         ThrottleObserver
	lastWarn    atomic.Int64 // Unix nanoseconds of the last warning
}

var (
	_ auth.Throttle       = (*Throttle)(nil)
	_ auth.SignUpThrottle = (*Throttle)(nil)
	_ auth.MailThrottle   = (*Throttle)(nil)
)

// NewThrottle returns a Throttle.
func NewThrottle(o ThrottleOptions) *Throttle {
	if o.Limiter == nil {
		o.Limiter = NewMemory(MemoryOptions{Now: o.Now})
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Throttle{l: o.Limiter, fallback: o.Fallback, lim: o.Limits, log: o.Logger, obs: o.Observer}
}

// warnEvery spaces the warnings of a failing limiter: one per request would
// flood the log just when it matters.
const warnEvery = 10 * time.Second

// ipKey is the part of a per-IP key that names the client: an IPv4
// address as it is, an IPv6 address by its /IPv6Prefix network
// (2001:db8:1:2::/64). Anything unparsable (no address known) is kept as it
// is.
func (t *Throttle) ipKey(ip string) string {
	bits := t.lim.IPv6Prefix
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() || bits <= 0 || bits >= 128 {
		return ip
	}
	p, err := a.WithZone("").Prefix(bits)
	if err != nil {
		return ip
	}
	return p.String()
}

func accountKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return "acct:" + hex.EncodeToString(sum[:12])
}

// limitName is the cause of a refusal: it names the limit in the audit
// event, never the key (which may derive from an email).
type limitName string

func (n limitName) Error() string { return string(n) }

func (t *Throttle) limited(name string, retry time.Duration) error {
	if t.obs != nil {
		t.obs.RateLimited(name)
	}
	return &auth.Error{Code: auth.CodeRateLimited, Message: "too many requests; retry later", RetryAfter: retry, Err: limitName(name)}
}

// failed handles a limiter error: it warns (at most every warnEvery),
// counts, and returns the fallback limiter, or nil to let the request
// through.
func (t *Throttle) failed(ctx context.Context, err error) Limiter {
	if ctx.Err() != nil {
		// The caller's context ended (its client left): the limiter did
		// not fail, and the Redis limiter does not back off for it either.
		return t.fallback
	}
	if t.obs != nil {
		t.obs.LimiterError()
	}
	now := time.Now().UnixNano()
	if last := t.lastWarn.Load(); now-last >= int64(warnEvery) && t.lastWarn.CompareAndSwap(last, now) {
		mode := "limits are per instance until it is back"
		if t.fallback == nil {
			mode = "requests are let through unlimited"
		}
		t.log.WarnContext(ctx, "rate limiter unavailable; "+mode, "err", err)
	}
	return t.fallback
}

// allow asks the limiter (Check when check is true, else Allow), then the
// fallback; if neither answers it lets the request through: a limiter
// outage must not lock everyone out.
func (t *Throttle) allow(ctx context.Context, key string, l Limit, check bool) (bool, time.Duration) {
	ask := func(lim Limiter) (bool, time.Duration, error) {
		if check {
			return lim.Check(ctx, key, l)
		}
		return lim.Allow(ctx, key, l)
	}
	ok, retry, err := ask(t.l)
	if err == nil {
		return ok, retry
	}
	if fb := t.failed(ctx, err); fb != nil {
		if ok, retry, err := ask(fb); err == nil {
			return ok, retry
		}
	}
	return true, 0
}

// hitTimeout bounds a hit made after its request's context has been
// detached (see hit).
const hitTimeout = time.Second

// hit counts a failure under a context that the request's end does not
// cancel (as auth.Throttle asks; the service already passes one, and the
// detaching here keeps that true for any other caller), bounded by
// hitTimeout. A hit that fails, hitTimeout included, is a limiter error
// (failed is given the detached context, which never ends).
func (t *Throttle) hit(ctx context.Context, key string, l Limit) {
	detached := context.WithoutCancel(ctx)
	hctx, cancel := context.WithTimeout(detached, hitTimeout)
	defer cancel()
	if err := t.l.Hit(hctx, key, l); err != nil {
		if fb := t.failed(detached, err); fb != nil {
			_ = fb.Hit(detached, key, l)
		}
	}
}

// AllowSignIn refuses a sign-in over a limit. Failures are only counted
// (SignInFailed), not consumed here, so a user who types the right password
// costs the per-account limit nothing.
func (t *Throttle) AllowSignIn(ctx context.Context, email, ip string) error {
	ip = t.ipKey(ip)
	if ok, retry := t.allow(ctx, "signin-fail-acct:"+accountKey(email), t.lim.SigninFailuresPerAccount, true); !ok {
		return t.limited(LimitSigninFailuresAccount, retry)
	}
	if ok, retry := t.allow(ctx, "signin-fail-ip:"+ip, t.lim.SigninFailuresPerIP, true); !ok {
		return t.limited(LimitSigninFailuresIP, retry)
	}
	if ok, retry := t.allow(ctx, "signin-ip:"+ip, t.lim.SigninsPerIP, false); !ok {
		return t.limited(LimitSigninIP, retry)
	}
	return nil
}

// SignInFailed counts a failed sign-in against the account and the IP.
func (t *Throttle) SignInFailed(ctx context.Context, email, ip string) {
	ip = t.ipKey(ip)
	t.hit(ctx, "signin-fail-acct:"+accountKey(email), t.lim.SigninFailuresPerAccount)
	t.hit(ctx, "signin-fail-ip:"+ip, t.lim.SigninFailuresPerIP)
}

// AllowRefresh refuses a refresh over the per-IP limit.
func (t *Throttle) AllowRefresh(ctx context.Context, ip string) error {
	ip = t.ipKey(ip)
	if ok, retry := t.allow(ctx, "refresh-ip:"+ip, t.lim.RefreshesPerIP, false); !ok {
		return t.limited(LimitRefreshIP, retry)
	}
	return nil
}

// AllowSignUp is asked before a sign-up's password is hashed: per client IP
// first (a flood from one address), then for everyone (a flood from many),
// so one address at its limit does not use up the global allowance. A
// sign-up without an address (the CLI) is only counted globally.
func (t *Throttle) AllowSignUp(ctx context.Context, ip string) error {
	if ip != "" {
		if ok, retry := t.allow(ctx, "signup-ip:"+t.ipKey(ip), t.lim.SignupsPerIP, false); !ok {
			return t.limited(LimitSignupIP, retry)
		}
	}
	if ok, retry := t.allow(ctx, "signup-all", t.lim.Signups, false); !ok {
		return t.limited(LimitSignupGlobal, retry)
	}
	return nil
}

// Off is an auth.Throttle that limits nothing: RATE_LIMITS=off, or
// latchkey.Options.Throttle to switch the default limits off.
type Off struct{}

var (
	_ auth.Throttle       = Off{}
	_ auth.SignUpThrottle = Off{}
)

func (Off) AllowSignIn(context.Context, string, string) error { return nil }
func (Off) SignInFailed(context.Context, string, string)      {}
func (Off) AllowRefresh(context.Context, string) error        { return nil }

// AllowPasswordReset refuses a password-reset request over the per-address
// or per-IP limit. Every request counts, whether or not the address is a
// user's.
func (t *Throttle) AllowPasswordReset(ctx context.Context, email, ip string) error {
	return t.allowMail(ctx, "reset", email, ip, t.lim.PasswordResetsPerAccount, t.lim.PasswordResetsPerIP,
		LimitPasswordResetAccount, LimitPasswordResetIP)
}

// AllowVerificationResend refuses a verification resend over the
// per-address or per-IP limit.
func (t *Throttle) AllowVerificationResend(ctx context.Context, email, ip string) error {
	return t.allowMail(ctx, "resend", email, ip, t.lim.VerificationResendsPerAccount, t.lim.VerificationResendsPerIP,
		LimitVerificationResendAccount, LimitVerificationResendIP)
}

// allowMail consumes one request of the per-IP, then the per-address
// limit of a request that sends e-mail.
func (t *Throttle) allowMail(ctx context.Context, prefix, email, ip string, acct, perIP Limit, acctName, ipName string) error {
	if ok, retry := t.allow(ctx, prefix+"-ip:"+t.ipKey(ip), perIP, false); !ok {
		return t.limited(ipName, retry)
	}
	if ok, retry := t.allow(ctx, prefix+"-acct:"+accountKey(email), acct, false); !ok {
		return t.limited(acctName, retry)
	}
	return nil
}
func (Off) AllowSignUp(context.Context, string) error { return nil }
