// Package cookie is the cookie dialect, the cookie refresh of DeployHub's
// API: the refresh token lives in an HttpOnly cookie that every dialect's
// sign-in sets (httpapi.RefreshCookie, REFRESH_COOKIE=on), and
//
//	GET /api/refresh/refreshtoken  (Cookie: refreshToken=...)
//	    -> 200 {"accessToken": "..."} and the cookie set again
//
// trades it for a new access token. With REFRESH_TOKEN_ROTATION=on the
// cookie carries the rotated refresh token; with it off, the same token
// comes back with the same expiry (as DeployHub's does). The cookie is
// HttpOnly always, Secure and SameSite=Strict when APP_ENV=production, and
// its Path (/api/refresh) covers this route whichever route set it. Its
// name is REFRESH_COOKIE_NAME, default "refreshToken" as in DeployHub's
// request example (its notes spell the cookie it sets "RefreshToken"; set
// the name to that if existing clients depend on it).
//
// Cross-site requests are refused before the cookie is read: a request whose
// Origin is neither this server's (its host, PUBLIC_URL, the issuer) nor in
// CORS_ALLOWED_ORIGINS, or that a browser marks Sec-Fetch-Site: cross-site,
// gets 403 (httpapi.Origins.SameOriginOrAllowed); every other route that
// sets the cookie applies the same rule (httpapi.RefreshCookie.CrossSite).
// The route changes state, so HEAD, which http.ServeMux would run as a GET,
// and every other method answer 405 with Allow: GET (httpapi.GETOnly). A request without an Origin header
// (curl, a server, a same-origin GET) passes. The CORS middleware answers
// preflights and, for allowed origins, sets Access-Control-Allow-Origin to
// the exact origin with Access-Control-Allow-Credentials: true, so a
// single-page app on another origin can call this route with
// credentials: "include".
//
// # Errors
//
// Errors are DeployHub's {"message": text}, with Latchkey's machine-readable
// code beside it as "error":
//
//   - 400: the cookie is missing, or its token is invalid, expired, reused
//     (the session is then revoked), of a revoked or expired session, or of
//     an inactive user; the message says which;
//   - 403 cross_site_request: the Origin check above;
//   - 404 user_not_found: the user no longer exists (DeployHub's "User not
//     found");
//   - 429 and 503 with Retry-After; the cookie is kept, the client retries;
//   - 500 for anything else, its cause logged, never shown.
//
// A 400 or 404 caused by the token also clears the cookie, so a browser
// stops sending a token that can never work again.
//
// # REFRESH_COOKIE=off
//
// When no dialect sets the cookie, the route stays mounted (DIALECTS still
// names it) but answers 404 {"message": ..., "error": "cookie_disabled"}
// without reading any Cookie header: the endpoint does not exist on this
// server, and a hand-made cookie is not a way around the setting.
//
// WriteError is the dialect's one error-mapping function.
package cookie
