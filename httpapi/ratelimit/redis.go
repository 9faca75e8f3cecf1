package ratelimit

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix namespaces every key a Redis limiter writes.
const DefaultRedisPrefix = "latchkey:rl:"

// DefaultRedisBackoff is how long a Redis limiter stops asking Redis after a
// failure (see Redis).
const DefaultRedisBackoff = time.Second

// ErrUnavailable wraps every error of a Redis limiter that could not reach
// Redis, or that is backing off after such a failure.
var ErrUnavailable = errors.New("ratelimit: limiter store unavailable")

// RedisOptions configure NewRedis.
type RedisOptions struct {
	// Prefix is put before every key (DefaultRedisPrefix if empty). Tests
	// use a fresh prefix each, so they never see each other's counters.
	Prefix string
	// Now is the clock (time.Now if nil). Each call sends its reading to
	// Redis, so the limit follows the caller's clock: instances sharing a
	// Redis must keep their clocks within a small skew (NTP), and tests move
	// time by hand without sleeping.
	Now func() time.Time
	// Backoff is how long to answer ErrUnavailable without asking Redis
	// after a failure (DefaultRedisBackoff if zero, no backoff if negative).
	Backoff time.Duration
}

// Redis is a Limiter whose buckets live in Redis, so that every instance
// behind a load balancer enforces the same limits (REDIS_URL).
//
// It has exactly Memory's semantics — a token bucket of Count tokens
// refilled at Count per Per, Check consuming nothing, Hit going into debt of
// at most one whole allowance — expressed as GCRA (the generic cell rate
// algorithm): the only state per key is the "theoretical arrival time" TAT,
// the moment the bucket will be full again, kept in microseconds. A key
// expires at its TAT, when it carries no information any more, so Redis
// holds only keys that are currently limited or refilling.
//
// Each call is one EVALSHA of a Lua script, atomic in Redis, so concurrent
// callers on any number of instances never both take the last token. The
// refill interval Per/Count is rounded up to a whole microsecond, which
// makes a limit stricter by at most a microsecond per token.
//
// When Redis cannot be reached, calls return an error wrapping
// ErrUnavailable and the caller decides (Latchkey's throttle fails open).
// So that an unreachable Redis does not add a timeout to every request,
// the limiter then stops asking for Backoff and answers ErrUnavailable at
// once.
type Redis struct {
	c       redis.Scripter
	prefix  string
	now     func() time.Time
	backoff time.Duration
	// downUntil is the clock reading (Unix microseconds) before which Redis
	// is not asked; 0 when healthy.
	downUntil atomic.Int64
}

var _ Limiter = (*Redis)(nil)

//go:embed gcra.lua
var gcraSource string

var gcra = redis.NewScript(gcraSource)

// NewRedis returns a Limiter on c (a *redis.Client, *redis.ClusterClient or
// *redis.Ring). The caller owns c and closes it.
func NewRedis(c redis.Scripter, o RedisOptions) *Redis {
	r := &Redis{c: c, prefix: o.Prefix, now: o.Now, backoff: o.Backoff}
	if r.prefix == "" {
		r.prefix = DefaultRedisPrefix
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.backoff == 0 {
		r.backoff = DefaultRedisBackoff
	}
	return r
}

// NewRedisClient opens a client for a REDIS_URL (redis://, rediss:// or
// unix://) with timeouts fit for a rate limiter on the request path: a
// limiter that cannot answer within a quarter of a second is treated as
// down, not waited for. Timeouts given in the URL's query
// (dial_timeout=...) win.
func NewRedisClient(url string) (*redis.Client, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		// go-redis's message may quote the URL, password included.
		return nil, errors.New("REDIS_URL: not a valid redis://, rediss:// or unix:// URL")
	}
	def := redis.Options{}
	if o.DialTimeout == def.DialTimeout {
		o.DialTimeout = 500 * time.Millisecond
	}
	if o.ReadTimeout == def.ReadTimeout {
		o.ReadTimeout = 250 * time.Millisecond
	}
	if o.WriteTimeout == def.WriteTimeout {
		o.WriteTimeout = 250 * time.Millisecond
	}
	if o.PoolTimeout == def.PoolTimeout {
		o.PoolTimeout = 250 * time.Millisecond
	}
	if o.MaxRetries == def.MaxRetries {
		o.MaxRetries = -1 // a failed call fails open; retrying only adds latency
	}
	if o.DialerRetries == def.DialerRetries {
		o.DialerRetries = 1
	}
	return redis.NewClient(o), nil
}

// Script modes.
const (
	modeAllow = "allow"
	modeCheck = "check"
	modeHit   = "hit"
)

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string, l Limit) (bool, time.Duration, error) {
	return r.run(ctx, key, l, modeAllow)
}

// Check implements Limiter. It writes nothing.
func (r *Redis) Check(ctx context.Context, key string, l Limit) (bool, time.Duration, error) {
	return r.run(ctx, key, l, modeCheck)
}

// Hit implements Limiter.
func (r *Redis) Hit(ctx context.Context, key string, l Limit) error {
	_, _, err := r.run(ctx, key, l, modeHit)
	return err
}

func (r *Redis) run(ctx context.Context, key string, l Limit, mode string) (bool, time.Duration, error) {
	if l.Unlimited() {
		return true, 0, nil
	}
	now := r.now().UnixMicro()
	if until := r.downUntil.Load(); until != 0 {
		if now < until {
			return false, 0, fmt.Errorf("%w: backing off after a failure", ErrUnavailable)
		}
		r.downUntil.CompareAndSwap(until, 0)
	}
	interval := (l.Per.Nanoseconds() + int64(l.Count)*1000 - 1) / (int64(l.Count) * 1000) // ceil(Per/Count) in µs
	if interval < 1 {
		interval = 1
	}
	res, err := gcra.Run(ctx, r.c, []string{r.prefix + key}, now, interval, l.Count, mode).Int64Slice()
	if err != nil {
		if ctx.Err() == nil && r.backoff > 0 {
			r.downUntil.Store(now + r.backoff.Microseconds())
		}
		return false, 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("%w: unexpected script reply %v", ErrUnavailable, res)
	}
	return res[0] == 1, time.Duration(res[1]) * time.Microsecond, nil
}
