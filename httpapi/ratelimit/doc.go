// Package ratelimit limits how often something may happen per key: sign-ins
// per client IP, failed sign-ins per account, refreshes per IP (the
// RATE_LIMIT_* settings).
//
// Limiter is the seam: Memory implements it per process on
// golang.org/x/time/rate, and Redis implements it with the same semantics
// on a Redis shared by every instance (REDIS_URL), as GCRA in one atomic
// Lua script. Both run one contract test table. The package does not
// import net/http, so the domain can enforce limits as well as the HTTP
// layer; httpapi.WriteRetryAfter turns a retry delay into a header.
//
// Throttle puts the limits to work for the domain (an auth.Throttle):
// latchkey.New uses one with DefaultLimits in memory unless the application
// passes its own (or Off), and the binary builds one from its RATE_LIMIT_*
// settings.
//
// Keys are opaque strings chosen by the caller, who namespaces them by
// limit ("signin-ip:203.0.113.9", "signin-fail-account:<user id>"). A key
// should not be a raw email or token: keys may be kept in memory or in
// Redis, and appear in debugging output.
package ratelimit
