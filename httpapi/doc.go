// Package httpapi is the HTTP plumbing every Latchkey dialect adapter
// (canonical, OAuth 2.0, login-URL, cookie, Feathers) builds on. It holds no
// dialect and no domain logic: it knows how to read a request body safely,
// write JSON, find the bearer token and the client's address, and wrap
// handlers in the middleware every route shares. The few helpers every
// dialect uses to talk to the domain (Meta, Principal, CurrentUser and the
// public User) are here too, so that no dialect imports another.
//
// The shape follows tailscale's tsweb: a handler returns an error instead of
// writing one (HandlerFunc), and Handle passes that error to the dialect's one
// ErrorWriter, which maps it to the dialect's error body. Failures that the
// plumbing itself detects (a body over 64 KiB, malformed JSON, a wrong
// Content-Type) are *Error values: a status, a machine-readable code and a
// message that is safe to show the client, plus a Cause that is only logged.
//
// A typical route is assembled like this:
//
//	mux.Handle("POST /auth/sign-in", httpapi.Handle(signIn, canonical.WriteError))
//	root := httpapi.Chain(mux,
//		httpapi.AccessLog(logger, clientIP), // outermost: sees the final status
//		httpapi.Recover(logger),             // inside AccessLog, so a panic logs as 500
//		httpapi.SecurityHeaders(httpapi.SecurityOptions{}),
//		httpapi.CORS(origins),               // before the mux, to answer preflights
//		httpapi.LimitBody(httpapi.MaxBodyBytes),
//	)
//
// Chain lists middleware outermost first. AccessLog must be outside Recover:
// a panic unwinding through AccessLog would otherwise be logged before
// Recover has written the 500.
//
// Rate limiting lives in the subpackage ratelimit, which does not import
// net/http so that the domain can enforce limits (failed sign-ins per
// account) too; WriteRetryAfter here turns its answer into a header.
package httpapi
