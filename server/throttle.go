package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/httpapi/ratelimit"
)

// throttle enforces the RATE_LIMIT_* settings for the domain (auth.Throttle):
// failed sign-ins per account and per IP, all sign-ins per IP, refreshes per
// IP. Keys never hold a raw email: the account key is a hash.
type throttle struct {
	l                                        ratelimit.Limiter
	failAccount, failIP, signInIP, refreshIP ratelimit.Limit
}

func newThrottle(l ratelimit.Limiter, cfg config.Config) *throttle {
	lim := func(r config.Rate) ratelimit.Limit { return ratelimit.Limit{Count: r.Count, Per: r.Per} }
	return &throttle{l: l, failAccount: lim(cfg.RateLimitSigninFailuresAccount), failIP: lim(cfg.RateLimitSigninFailuresIP),
		signInIP: lim(cfg.RateLimitSigninIP), refreshIP: lim(cfg.RateLimitRefreshIP)}
}

func accountKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return "acct:" + hex.EncodeToString(sum[:12])
}

func limited(retry time.Duration) error {
	return &auth.Error{Code: auth.CodeRateLimited, Message: "too many requests; retry later", RetryAfter: retry}
}

func (t *throttle) AllowSignIn(ctx context.Context, email, ip string) error {
	for _, c := range []struct {
		key   string
		limit ratelimit.Limit
		check bool // failures are only counted, not consumed here
	}{
		{"signin-fail-acct:" + accountKey(email), t.failAccount, true},
		{"signin-fail-ip:" + ip, t.failIP, true},
	} {
		ok, retry, err := t.l.Check(ctx, c.key, c.limit)
		if err != nil {
			return nil // a limiter outage must not lock everyone out
		}
		if !ok {
			return limited(retry)
		}
	}
	ok, retry, err := t.l.Allow(ctx, "signin-ip:"+ip, t.signInIP)
	if err == nil && !ok {
		return limited(retry)
	}
	return nil
}

func (t *throttle) SignInFailed(ctx context.Context, email, ip string) {
	_ = t.l.Hit(ctx, "signin-fail-acct:"+accountKey(email), t.failAccount)
	_ = t.l.Hit(ctx, "signin-fail-ip:"+ip, t.failIP)
}

func (t *throttle) AllowRefresh(ctx context.Context, ip string) error {
	ok, retry, err := t.l.Allow(ctx, "refresh-ip:"+ip, t.refreshIP)
	if err == nil && !ok {
		return limited(retry)
	}
	return nil
}

var _ auth.Throttle = (*throttle)(nil)
