package server

import (
	"log/slog"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/httpapi/ratelimit"
	"github.com/latchkey-dev/latchkey/metrics"
)

// newThrottle is the RATE_LIMIT_* throttle over l, falling back to fallback
// while l fails (see ratelimit.Throttle), counted in m.
func newThrottle(l, fallback ratelimit.Limiter, cfg config.Config, log *slog.Logger, m *metrics.Metrics) *ratelimit.Throttle {
	lim := func(r config.Rate) ratelimit.Limit { return ratelimit.Limit{Count: r.Count, Per: r.Per} }
	return ratelimit.NewThrottle(ratelimit.ThrottleOptions{Limiter: l, Fallback: fallback, Logger: log, Observer: m,
		Limits: ratelimit.Limits{
			SigninFailuresPerAccount: lim(cfg.RateLimitSigninFailuresAccount), SigninFailuresPerIP: lim(cfg.RateLimitSigninFailuresIP),
			SigninsPerIP: lim(cfg.RateLimitSigninIP), RefreshesPerIP: lim(cfg.RateLimitRefreshIP),
			SignupsPerIP: lim(cfg.RateLimitSignupIP), Signups: lim(cfg.RateLimitSignupGlobal),
			IPv6Prefix: cfg.RateLimitIPv6Prefix,
		}})
}
