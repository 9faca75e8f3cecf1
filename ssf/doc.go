// Package ssf is Latchkey's Shared Signals transmitter (OpenID Shared
// Signals Framework 1.0, https://openid.net/specs/openid-sharedsignals-framework-1_0.html):
// it tells the APIs that verify Latchkey's access tokens locally, within
// seconds, that a session was revoked, so they stop accepting its access
// tokens before they expire.
//
// Every revocation records its events in the store, in the same
// transaction (store.Feed: an outbox). The transmitter delivers them as
// Security Event Tokens (RFC 8417) carrying CAEP session-revoked and
// credential-change events, signed with the access-token key when they are
// delivered, to receivers registered by the operator (`latchkey ssf
// receiver create`). Each receiver manages its own streams through the SSF
// management API and gets its events by polling (RFC 8936) or by push
// (RFC 8935), at least once and in order; receivers deduplicate by jti.
//
// The routes (Register):
//
//	GET  /.well-known/ssf-configuration    transmitter metadata (SSF §7)
//	POST|GET|PATCH|PUT|DELETE /ssf/stream  stream configuration (SSF §8.1.1)
//	GET|POST /ssf/status                   stream status (SSF §8.1.2)
//	POST /ssf/verify                       verification event (SSF §8.1.4)
//	POST /ssf/poll/{stream_id}             poll delivery (RFC 8936)
//
// Push runs in the background (Start, Close): with several instances on one
// database, each stream is pushed by the instance holding its lease in the
// store, and another takes over when a killed instance's lease runs out.
//
// docs/revocation.md describes the whole path, with the Go receiver
// (package ssf/receiver) that enforces it in an API.
package ssf
