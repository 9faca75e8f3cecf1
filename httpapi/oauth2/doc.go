// Package oauth2 is the OAuth 2.0 dialect: the token endpoint with
// the password and refresh_token grants (RFC 6749 §4.3, §6), revocation
// (RFC 7009), introspection (RFC 7662), authorization-server metadata
// (RFC 8414) and the JWKS. Bodies are form-encoded or JSON, responses are
// snake_case with Cache-Control: no-store, errors are RFC 6749 §5.2
// {"error", "error_description"} with Latchkey's reason beside them as
// "error_reason". WriteError is its one error-mapping function.
//
// Details real clients depend on: success is exactly 200 with
// application/json, token_type "Bearer", expires_in, and a refresh_token in
// every refresh response (golang.org/x/oauth2 keeps the old one otherwise);
// Basic client authentication with an empty secret is accepted for public
// clients; a 400 never carries WWW-Authenticate.
//
// What a strict client or a conformance suite checks: every client
// credential the server cannot verify (Latchkey has only public clients) is
// 401 invalid_client before anything is consumed (clientID), and the
// metadata advertises only "none"; a scope is invalid_scope; a token issued
// to a client is refreshed and revoked only by that client; refresh tokens
// introspect as inactive (no caller is an authenticated client);
// error_description keeps to RFC 6749 §5.2's characters. While the refresh
// cookie is on, a cross-site request to the token endpoint is refused (its
// answer would set the cookie) and revocation leaves the cookie alone.
package oauth2
