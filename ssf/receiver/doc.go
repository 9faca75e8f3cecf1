// Package receiver enforces Latchkey's revocations in a Go API within
// seconds: it receives the Shared Signals (SSF 1.0) security events that
// Latchkey transmits when a session is revoked, and keeps the set of revoked
// session ids, so that an access token whose sid is in it is refused before
// it expires.
//
// It needs only Latchkey's issuer URL and a receiver credential (`latchkey
// ssf receiver create NAME`); it finds the transmitter's endpoints and key
// set from the issuer (/.well-known/ssf-configuration). It depends on the
// standard library and go-jose only.
//
//	rcv, err := receiver.Start(ctx, receiver.Options{
//		Issuer:     "https://auth.example.com",
//		Credential: os.Getenv("LATCHKEY_RECEIVER_CREDENTIAL"),
//	})
//	...
//	defer rcv.Close()
//	if rcv.Revoked(claims.SessionID) { /* 401 */ }
//
// latchkey.AuthOptions.Revoked takes rcv.Revoked, so Latchkey's own
// Middleware refuses such tokens with 401 invalid_token (error_reason
// session_revoked).
//
// Each Receiver owns one event stream, named by Options.Name (the host name
// by default): starting replaces the stream of that name, and a new stream
// begins with the revocations of the last access-token lifetime, so a
// receiver that starts, or restarts with an empty memory, knows every
// revocation whose access tokens may still be in use. Ready is closed once
// that history is applied. Events arrive by polling (RFC 8936, every
// PollInterval) or, with PushURL, by push (RFC 8935) to Handler; every SET
// is verified (signature through the JWKS, typ, iss, aud) before it is
// applied, and acknowledged after. A session leaves the set once every
// access token it had is past its exp (plus leeway), so the set stays
// bounded. When Latchkey cannot be reached, the set stays as it is (tokens
// still verify), polling backs off, and the receiver catches up when it
// returns.
//
// Revoked is O(1) and does not allocate (BenchmarkRevoked: 100,000 revoked
// sessions).
package receiver
