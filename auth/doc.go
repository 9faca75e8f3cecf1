// Package auth is Latchkey's domain: sign-up, sign-in, the refresh-token
// rotation policy with reuse detection, access-token renewal, sign-out,
// sessions, revocation and introspection. It depends only on the Store
// contract, the token package and the password hasher; it imports neither
// net/http nor database/sql. Every HTTP dialect is a thin adapter over a
// Service, so one session model serves every front door.
//
// Failures are *Error values with a stable machine-readable Code
// (refresh_token_reused, user_inactive, ...), so a client can tell "retry"
// from "sign in again".
package auth
