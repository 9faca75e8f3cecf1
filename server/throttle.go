package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/httpapi/ratelimit"
	"github.com/latchkey-dev/latchkey/metrics"
)

// throttle enforces the RATE_LIMIT_* settings for the domain (auth.Throttle
// and auth.SignUpThrottle): failed sign-ins per account and per IP, all
// sign-ins per IP, refreshes per IP, sign-ups per IP and in all. Keys never
// hold a raw email: the account key is a hash.
//
// When the limiter fails (a shared Redis that cannot be reached), the
// throttle falls back to per-instance limits in memory instead of refusing
// every sign-in: limits stay on, only no longer shared, and a warning is
// logged (at most every warnEvery) and counted.
type throttle struct {
	l                                        ratelimit.Limiter
	fallback                                 ratelimit.Limiter // nil when l is already in memory
	failAccount, failIP, signInIP, refreshIP ratelimit.Limit
	signUpIP, signUpAll                      ratelimit.Limit
	ipv6Bits                                 int // RATE_LIMIT_IPV6_PREFIX
	log                                      *slog.Logger
	metrics                                  *metrics.Metrics
	lastWarn                                 atomic.Int64 // Unix nanoseconds of the last warning
}

// warnEvery spaces the warnings of a failing limiter: one per request would
// flood the log just when it matters.
const warnEvery = 10 * time.Second

func newThrottle(l, fallback ratelimit.Limiter, cfg config.Config, log *slog.Logger, m *metrics.Metrics) *throttle {
	lim := func(r config.Rate) ratelimit.Limit { return ratelimit.Limit{Count: r.Count, Per: r.Per} }
	return &throttle{l: l, fallback: fallback, failAccount: lim(cfg.RateLimitSigninFailuresAccount), failIP: lim(cfg.RateLimitSigninFailuresIP),
		signInIP: lim(cfg.RateLimitSigninIP), refreshIP: lim(cfg.RateLimitRefreshIP), ipv6Bits: cfg.RateLimitIPv6Prefix,
		signUpIP: lim(cfg.RateLimitSignupIP), signUpAll: lim(cfg.RateLimitSignupGlobal), log: log, metrics: m}
}

// ipKey is the part of a per-IP key that names the client: an IPv4
// address as it is, an IPv6 address by its /RATE_LIMIT_IPV6_PREFIX network
// (2001:db8:1:2::/64), since a host is usually given a whole /64 and could
// otherwise take a new address for every attempt. Anything unparsable
// (no address known) is kept as it is.
func (t *throttle) ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() || t.ipv6Bits <= 0 || t.ipv6Bits >= 128 {
		return ip
	}
	p, err := a.WithZone("").Prefix(t.ipv6Bits)
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

func (t *throttle) limited(name string, retry time.Duration) error {
	t.metrics.RateLimited(name)
	return &auth.Error{Code: auth.CodeRateLimited, Message: "too many requests; retry later", RetryAfter: retry, Err: limitName(name)}
}

// failed handles a limiter error: it warns (at most every warnEvery),
// counts, and returns the fallback limiter, or nil to let the request
// through.
func (t *throttle) failed(ctx context.Context, err error) ratelimit.Limiter {
	t.metrics.LimiterError()
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
func (t *throttle) allow(ctx context.Context, key string, l ratelimit.Limit, check bool) (bool, time.Duration) {
	ask := func(lim ratelimit.Limiter) (bool, time.Duration, error) {
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

func (t *throttle) hit(ctx context.Context, key string, l ratelimit.Limit) {
	if err := t.l.Hit(ctx, key, l); err != nil {
		if fb := t.failed(ctx, err); fb != nil {
			_ = fb.Hit(ctx, key, l)
		}
	}
}

func (t *throttle) AllowSignIn(ctx context.Context, email, ip string) error {
	ip = t.ipKey(ip)
	// Failures are only counted (SignInFailed), not consumed here, so a user
	// who types the right password costs the per-account limit nothing.
	if ok, retry := t.allow(ctx, "signin-fail-acct:"+accountKey(email), t.failAccount, true); !ok {
		return t.limited(metrics.LimitSigninFailuresAccount, retry)
	}
	if ok, retry := t.allow(ctx, "signin-fail-ip:"+ip, t.failIP, true); !ok {
		return t.limited(metrics.LimitSigninFailuresIP, retry)
	}
	if ok, retry := t.allow(ctx, "signin-ip:"+ip, t.signInIP, false); !ok {
		return t.limited(metrics.LimitSigninIP, retry)
	}
	return nil
}

func (t *throttle) SignInFailed(ctx context.Context, email, ip string) {
	ip = t.ipKey(ip)
	t.hit(ctx, "signin-fail-acct:"+accountKey(email), t.failAccount)
	t.hit(ctx, "signin-fail-ip:"+ip, t.failIP)
}

func (t *throttle) AllowRefresh(ctx context.Context, ip string) error {
	ip = t.ipKey(ip)
	if ok, retry := t.allow(ctx, "refresh-ip:"+ip, t.refreshIP, false); !ok {
		return t.limited(metrics.LimitRefreshIP, retry)
	}
	return nil
}

// AllowSignUp is asked before a sign-up's password is hashed: per client IP
// first (a flood from one address), then for everyone (a flood from many),
// so one address at its limit does not use up the global allowance. A
// sign-up without an address (the CLI) is only counted globally.
func (t *throttle) AllowSignUp(ctx context.Context, ip string) error {
	if ip != "" {
		if ok, retry := t.allow(ctx, "signup-ip:"+t.ipKey(ip), t.signUpIP, false); !ok {
			return t.limited(metrics.LimitSignupIP, retry)
		}
	}
	if ok, retry := t.allow(ctx, "signup-all", t.signUpAll, false); !ok {
		return t.limited(metrics.LimitSignupGlobal, retry)
	}
	return nil
}

var (
	_ auth.Throttle       = (*throttle)(nil)
	_ auth.SignUpThrottle = (*throttle)(nil)
)
