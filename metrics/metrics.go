package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/httpapi/ratelimit"
)

// Unmatched is the route label of a request no pattern matched.
const Unmatched = "unmatched"

// latencyBuckets cover a refresh (about a millisecond) to a sign-in under
// load (argon2id alone is ~70 ms).
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics is one server's Prometheus metrics, on a registry of its own (not
// the global one: two servers in one process, as in tests, do not clash).
// Create it with New; it is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	signIns     *prometheus.CounterVec
	refreshes   *prometheus.CounterVec
	reuse       prometheus.Counter
	rateLimited *prometheus.CounterVec
	limiterErrs prometheus.Counter
	mail        mailMetrics

	// Children for label values known in advance, resolved once so the
	// request path does no label hashing. Read-only after New.
	signInBy, refreshBy, limitBy map[string]prometheus.Counter

	mu     sync.RWMutex
	routes map[routeKey]routeObs // grows to routes × statuses seen
}

type routeKey struct {
	pattern string
	status  int
}

type routeObs struct {
	count prometheus.Counter
	dur   prometheus.Observer
}

var (
	_ auth.Observer = (*Metrics)(nil)
)

// New returns Metrics with every collector registered, plus the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), routes: make(map[routeKey]routeObs)}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_http_requests_total",
		Help: "HTTP requests served, by route pattern and status code.",
	}, []string{"route", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "latchkey_http_request_duration_seconds",
		Help:    "Time to serve an HTTP request, by route pattern and status class (2xx, 4xx, 5xx).",
		Buckets: latencyBuckets,
	}, []string{"route", "class"})
	m.signIns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_signins_total",
		Help: "Sign-ins, by outcome: success or the failure code (invalid_credentials, rate_limited, ...).",
	}, []string{"outcome"})
	m.refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_refreshes_total",
		Help: "Refresh-token refreshes, by outcome: rotated, reissued, not_rotated or the failure code.",
	}, []string{"outcome"})
	m.reuse = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "latchkey_refresh_reuse_detected_total",
		Help: "Superseded refresh tokens presented outside the reuse interval; each revoked its session.",
	})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_rate_limit_hits_total",
		Help: "Requests refused with 429, by the limit that refused them.",
	}, []string{"limit"})
	m.limiterErrs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "latchkey_rate_limiter_errors_total",
		Help: "Calls to the shared rate limiter (Redis) that failed; this instance's in-memory limits answered instead.",
	})
	m.reg.MustRegister(m.requests, m.duration, m.signIns, m.refreshes, m.reuse, m.rateLimited, m.limiterErrs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	codes := []auth.Code{auth.CodeInvalidRequest, auth.CodeInvalidCredentials, auth.CodeEmailTaken, auth.CodeRefreshExpired,
		auth.CodeRefreshReused, auth.CodeRefreshInvalid, auth.CodeSessionRevoked, auth.CodeSessionExpired, auth.CodeUserInactive,
		auth.CodeUserNotFound, auth.CodeInvalidToken, auth.CodeNotFound, auth.CodeNotImplemented, auth.CodeRateLimited,
		auth.CodeUnavailable, auth.CodeEmailNotVerified, auth.CodeInvalidDPoPProof, auth.CodeUseDPoPNonce}
	outcomes := []string{auth.OutcomeInternal, auth.OutcomeClientClosed}
	for _, c := range codes {
		outcomes = append(outcomes, string(c))
	}
	m.signInBy = children(m.signIns, append([]string{auth.OutcomeSuccess}, outcomes...))
	m.refreshBy = children(m.refreshes, append([]string{auth.OutcomeRotated, auth.OutcomeReissued, auth.OutcomeNotRotated}, outcomes...))
	m.limitBy = children(m.rateLimited, []string{ratelimit.LimitSigninFailuresAccount, ratelimit.LimitSigninFailuresIP,
		ratelimit.LimitSigninIP, ratelimit.LimitRefreshIP, ratelimit.LimitSignupIP, ratelimit.LimitSignupGlobal,
		ratelimit.LimitPasswordResetAccount, ratelimit.LimitPasswordResetIP, ratelimit.LimitVerificationResendAccount,
		ratelimit.LimitVerificationResendIP})
	m.newMail()
	return m
}

// children resolves (and so exports, at zero) one child per value.
func children(v *prometheus.CounterVec, values []string) map[string]prometheus.Counter {
	out := make(map[string]prometheus.Counter, len(values))
	for _, x := range values {
		out[x] = v.WithLabelValues(x)
	}
	return out
}

func inc(known map[string]prometheus.Counter, v *prometheus.CounterVec, value string) {
	if c, ok := known[value]; ok {
		c.Inc()
		return
	}
	v.WithLabelValues(value).Inc() // a value New did not know: still bounded by the caller's constants
}

// Registry returns the registry, for an embedding application that adds its
// own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// SignIn implements auth.Observer.
func (m *Metrics) SignIn(outcome string) { inc(m.signInBy, m.signIns, outcome) }

// Refresh implements auth.Observer.
func (m *Metrics) Refresh(outcome string) { inc(m.refreshBy, m.refreshes, outcome) }

// ReuseDetected implements auth.Observer.
func (m *Metrics) ReuseDetected() { m.reuse.Inc() }

// RateLimited counts a refusal by the named limit (a ratelimit.Limit* constant).
func (m *Metrics) RateLimited(limit string) { inc(m.limitBy, m.rateLimited, limit) }

// LimiterError counts a failed call to the limiter; the throttle falls back
// to in-memory limits (or, failing those too, lets the request through).
func (m *Metrics) LimiterError() { m.limiterErrs.Inc() }

// Middleware counts and times every request by route and status. The route
// is the ServeMux pattern that matched ("POST /auth/sign-in",
// "DELETE /auth/sessions/{id}"), never the raw path, so an attacker probing
// random URLs cannot create series: unknown paths fall to the "/" route or
// to Unmatched.
//
// The pattern is read from r.Pattern after the mux has served the request:
// ServeMux sets it on the *http.Request it is given, so no middleware
// between this one and the mux may replace the request (r.WithContext).
// Put it just inside AccessLog and outside Recover, so a recovered panic
// is counted with the 500 that Recover wrote.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := httpapi.NewStatusRecorder(w) // AccessLog's, when it is outside: no allocation
		served := false
		defer func() {
			status := rec.Status()
			if status == 0 {
				status = http.StatusOK // what net/http sends for a silent handler
				if !served {
					status = http.StatusInternalServerError // a panic is passing through
				}
			}
			m.observe(r.Pattern, status, time.Since(start))
		}()
		next.ServeHTTP(rec, r)
		served = true
	})
}

func (m *Metrics) observe(pattern string, status int, d time.Duration) {
	k := routeKey{pattern, status}
	m.mu.RLock()
	o, ok := m.routes[k]
	m.mu.RUnlock()
	if !ok {
		o = m.route(k)
	}
	o.count.Inc()
	o.dur.Observe(d.Seconds())
}

// route resolves the children of a (route, status) pair seen for the first
// time.
func (m *Metrics) route(k routeKey) routeObs {
	m.mu.Lock()
	defer m.mu.Unlock()
	if o, ok := m.routes[k]; ok {
		return o
	}
	route := k.pattern
	if route == "" {
		route = Unmatched
	}
	o := routeObs{
		count: m.requests.WithLabelValues(route, strconv.Itoa(k.status)),
		dur:   m.duration.WithLabelValues(route, strconv.Itoa(k.status/100)+"xx"),
	}
	m.routes[k] = o
	return o
}
