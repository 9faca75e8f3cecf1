// Package login is the login-URL refresh dialect: the defaults of the
// aurelia-authentication client (3.x), where one URL both signs in and
// refreshes.
//
//	POST /auth/login  {email, password[, client_id]}
//	                  -> 200 {access_token, refresh_token, token_type, expires_in, user}
//	POST /auth/login  {grant_type: "refresh_token", refresh_token[, client_id]}
//	                  -> 200, the same shape with all new tokens
//	POST /auth/signup {email, password[, displayName]}
//	                  -> 201, the same shape (aurelia's loginOnSignup defaults to true)
//	GET  /auth/me     (Bearer) -> 200 {user}, only when the canonical dialect,
//	                  which serves the same route and body, is off
//
// Bodies are JSON (aurelia-api's default Content-Type) or
// application/x-www-form-urlencoded (what aurelia-api sends when an app sets
// that Content-Type in defaultHeadersForTokenRequests); both are read by
// httpapi.DecodeForm, so unknown parameters (displayName, an app's own
// fields) are ignored. On a refresh the client also sends its old, maybe
// expired, access token in Authorization; it is ignored, never a reason to
// refuse. Latchkey has only public clients: a non-empty client_secret or a
// client_assertion is refused with 401 invalid_client before anything is
// consumed, as in the OAuth 2.0 dialect (but without a WWW-Authenticate
// Basic challenge, which would make a browser prompt for a password). A
// refresh token issued to a client_id needs that client_id. While the
// refresh cookie is on, a cross-site request is refused before anything is
// read, since the answer would set the cookie (httpapi.RefreshCookie).
//
// # Errors
//
// The routes speak OAuth's vocabulary (grant_type, snake_case tokens), so
// errors are RFC 6749 §5.2 objects with Latchkey's reason beside the
// standard code, so a client can tell "retry" from "sign in again":
//
//	{"error": "invalid_grant", "error_description": "...", "error_reason": "refresh_token_reused"}
//
// aurelia only rejects its promise on a non-2xx status, so the status is
// what the client acts on:
//
//   - 400 invalid_request: malformed or missing parameters, wrong
//     Content-Type, an empty JSON body; 413 request_too_large over 64 KiB;
//   - 400 unsupported_grant_type: a grant_type other than refresh_token
//     (or password, or none, which sign in);
//   - 400 invalid_scope: a scope (tokens carry none);
//   - 400 invalid_grant: every refusal of a refresh token (expired, reused,
//     invalid, session revoked or expired, user inactive or gone), the
//     reason in error_reason;
//   - 401 invalid_grant / invalid_credentials: a wrong email or password
//     (what aurelia apps' servers answer for a failed login);
//   - 401 invalid_client: a client_secret or client_assertion;
//   - 401 invalid_token: GET /auth/me without a valid access token, or with
//     one whose session is over (the reason in error_reason), with
//     WWW-Authenticate: Bearer;
//   - 403 invalid_grant / user_inactive: the right password of an inactive
//     user;
//   - 403 invalid_request / cross_site_request: a cross-site request while
//     the refresh cookie is on;
//   - 409 invalid_request / email_taken: sign-up with an existing email;
//   - 429 slow_down and 503 temporarily_unavailable, with Retry-After;
//   - 500 server_error for anything else, its cause logged, never shown.
//
// error_description keeps to the characters RFC 6749 §5.2 allows
// (httpapi.OAuthText).
//
// WriteError is the dialect's one error-mapping function.
package login
