// Package latchkey embeds the Latchkey token service in a Go application:
// sign-in, short-lived JWT access tokens, rotating refresh tokens with reuse
// detection and revocation, behind the refresh "dialects" existing clients
// speak, embedded in a Go application's own server.
//
// New mounts the chosen dialects as an http.Handler (under a prefix of the
// host's choice) over the host's store, clock, logger and keys. An
// application that already has a users table keeps it by implementing
// auth.Users; Latchkey then owns only sessions and tokens. Hooks add
// access-token claims, reshape token responses and authorise access-token
// renewal. Middleware (or Authenticate) protects the host's own routes with
// Latchkey access tokens, verified with the local keys or, in another
// service, with the keys fetched from the JWKS URL (RemoteKeys).
//
// The latchkey binary is wired from the same packages: cmd/latchkey maps its
// settings onto Options and calls New.
package latchkey
