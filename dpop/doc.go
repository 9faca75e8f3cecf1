// Package dpop implements the proofs of OAuth 2.0 Demonstrating
// Proof of Possession (DPoP, RFC 9449): a client signs a short JWT (the
// proof) with a key it holds for every request, and a server that bound a
// session or an access token to that key's thumbprint (RFC 7638) accepts the
// token only with a fresh proof by the same key.
//
// NewProof signs a proof; Verifier checks one as RFC 9449 §4.3 says (every
// failure an *Error with a machine-readable Reason); ReplayCache remembers the
// jti values already used (MemoryReplay keeps them in this process, a server
// with several instances keeps them in its database); Nonces issues and
// checks stateless server nonces (RFC 9449 §8); HTU builds the URL a proof
// must name for a request.
//
// The package imports no HTTP framework and no SQL driver.
package dpop
