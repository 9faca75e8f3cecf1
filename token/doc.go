// Package token mints and verifies Latchkey's two kinds of JWT:
//
//   - access tokens, signed with an asymmetric key (ES256 by default, EdDSA
//     or RS256 selectable; HS256 with a shared secret only when configured),
//     header typ "at+jwt" and kid, claims iss, sub, aud, exp, iat, jti, sid and
//     token_use "access" (RFC 9068 shape);
//   - refresh tokens, signed with HS256 under a secret only the server holds,
//     claims iss, sub, sid, gen, iat, exp, jti and token_use "refresh".
//
// Algorithms are pinned per kind (RFC 8725 §3.1): the parser is given exactly
// one allowed algorithm, so "alg: none" and algorithm confusion (an HS256
// token signed with a public key) fail before any key is used. The token_use
// claim and the typ header keep one kind from being accepted as the other
// (RFC 8725 §3.11).
//
// Both kinds are signed as compact JWS built with the standard library, the
// protected header of each key encoded once (jws.go), and verified without
// go-jose by strict readers that decode the claims only once the signature
// is good: access tokens (access.go) with a header of exactly alg, kid and
// typ, the algorithm pinned to the key the kid names (ES256, EdDSA, RS256,
// and HS256 only on an issuer configured with it, never on a Verifier);
// refresh tokens, which only this server reads, with their one header
// (HS256, typ rt+jwt, no kid or crit). go-jose remains for keys and the JWKS.
//
// Refresh-token expiry is exact (no leeway): the server checks its own tokens
// against its own clock. Access tokens get a small leeway because they are
// also verified by other services whose clocks drift.
package token
