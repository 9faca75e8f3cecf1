package servertest

import (
	"log/slog"

	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/server"
)

// Option changes the wiring StartConfig gives server.Open, for the few
// tests that need something other than cheap hashing.
type Option func(*server.Options)

// WithHashParams hashes passwords with p instead of password.Cheap (an
// overload test wants hashing that takes real time).
func WithHashParams(p password.Params) Option {
	return func(o *server.Options) { o.HashParams = &p }
}

// WithRedisKeyPrefix namespaces the server's rate-limit keys in Redis, so
// tests sharing one Redis (and servers of one test sharing a limit) do not
// see other tests' counters.
func WithRedisKeyPrefix(prefix string) Option {
	return func(o *server.Options) { o.RedisKeyPrefix = prefix }
}

// WithLogger logs to l instead of Server.Logs (benchmarks log to
// io.Discard at the production level, so the cost of writing logs is
// measured without a buffer that grows with every request).
func WithLogger(l *slog.Logger) Option {
	return func(o *server.Options) { o.Logger = l }
}
