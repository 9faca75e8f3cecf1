package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
)

// RefreshCookie writes the refresh token as an HttpOnly cookie for the
// cookie dialect. Every dialect's sign-in and refresh calls SetGrant when
// the cookie is switched on (REFRESH_COOKIE), and sign-out calls Clear, so a
// browser session started through any front door can be refreshed through
// GET /api/refresh/refreshtoken.
//
// No cross-site request sets or clears it (CrossSite): browsers store a
// cookie that the response to a top-level form POST from another site sets,
// even a SameSite=Strict one, so without this rule an attacker's page could
// sign the victim's browser in as the attacker (login CSRF) or sign it out.
type RefreshCookie struct {
	// Name is the cookie's name. A name with the __Host- prefix gets what
	// browsers require of it (RFC 6265bis §4.1.3.2): Secure, Path=/ and no
	// Domain, so that no sibling subdomain can set a cookie of that name
	// that shadows it; __Secure- gets Secure. Both are Secure even in
	// development, and browsers keep Secure cookies over plain http only
	// for localhost.
	Name string
	// Path must cover the cookie-refresh route; "/" is used when empty. A
	// cookie set by /auth/sign-in without a Path would default to /auth (RFC
	// 6265 §5.1.4) and never reach /api/refresh/refreshtoken. A __Host-
	// name makes it "/".
	Path string
	// Origins decides which requests are cross-site (SameOriginOrAllowed).
	Origins Origins
	// Production cookies are Secure and SameSite=Strict; development ones
	// are SameSite=Lax and not Secure, so they work over http://localhost.
	Production bool
	// Now is the clock the expiry times passed to Set were computed with;
	// Max-Age is measured from it. time.Now when nil.
	Now func() time.Time
}

// hasPrefix reports whether name starts with prefix, ignoring case as
// browsers do when they apply the cookie prefixes.
func hasPrefix(name, prefix string) bool {
	return len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix)
}

func (c *RefreshCookie) cookie(value string, expires time.Time) *http.Cookie {
	path := c.Path
	if path == "" || hasPrefix(c.Name, "__Host-") {
		path = "/"
	}
	ck := &http.Cookie{Name: c.Name, Value: value, Path: path, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if c.Production {
		ck.Secure, ck.SameSite = true, http.SameSiteStrictMode
	}
	if hasPrefix(c.Name, "__Host-") || hasPrefix(c.Name, "__Secure-") {
		ck.Secure = true
	}
	if value == "" {
		ck.MaxAge = -1
	} else {
		now := time.Now
		if c.Now != nil {
			now = c.Now
		}
		ck.Expires = expires.UTC()
		ck.MaxAge = max(1, int(expires.Sub(now()).Seconds()))
	}
	return ck
}

// CrossSite reports whether r comes from another site than this server or
// an allowed origin, while the cookie is on: such a request must not set or
// clear it. Routes that would set it (sign-in, sign-up, refresh) refuse the
// request with CrossSiteRefused before any credential is checked; routes
// that would only clear it (sign-out, revocation) answer without touching
// it. A nil *RefreshCookie (the cookie switched off) says false: with no
// cookie to plant there is nothing to refuse.
func (c *RefreshCookie) CrossSite(r *http.Request) bool {
	return c != nil && !c.Origins.SameOriginOrAllowed(r)
}

// Set sets the cookie to token until expires, unless r is cross-site. A
// nil *RefreshCookie (the cookie switched off) does nothing.
func (c *RefreshCookie) Set(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	if c == nil || token == "" || c.CrossSite(r) {
		return
	}
	http.SetCookie(w, c.cookie(token, expires))
}

// SetGrant sets the cookie to the grant's refresh token (Set), unless the
// grant's session is bound to a client: such a token is refreshed only by a
// request that names its client (RFC 9700 §4.14), which the cookie refresh
// never does, so the cookie would be refused, and cleared, at its first
// use, signing the browser out. A cookie the browser already holds (of
// another session) is left as it is.
func (c *RefreshCookie) SetGrant(w http.ResponseWriter, r *http.Request, g *auth.Grant) {
	if g == nil || g.Session.ClientID != "" {
		return
	}
	c.Set(w, r, g.RefreshToken, g.RefreshExpiresAt)
}

// Clear deletes the cookie, unless r is cross-site (a page of another site
// must not sign the browser out). A nil *RefreshCookie does nothing.
func (c *RefreshCookie) Clear(w http.ResponseWriter, r *http.Request) {
	if c == nil || c.CrossSite(r) {
		return
	}
	http.SetCookie(w, c.cookie("", time.Time{}))
}

// CodeCrossSite is the code of CrossSiteRefused.
const CodeCrossSite = "cross_site_request"

// CrossSiteRefused is the 403 of a cross-site request to a route that would
// set the refresh cookie. code is the dialect's error code for it: its own
// CodeCrossSite, or RFC 6749's invalid_request with CodeCrossSite as the
// reason in the OAuth-shaped dialects.
func CrossSiteRefused(code string) *Error {
	e := &Error{Status: http.StatusForbidden, Code: code,
		Message: "cross-site request refused: this origin may not use the refresh cookie (CORS_ALLOWED_ORIGINS)"}
	if code != CodeCrossSite {
		e.Reason = CodeCrossSite
	}
	return e
}

// Value returns the cookie's token from the request, if present.
func (c *RefreshCookie) Value(r *http.Request) (string, bool) {
	if c == nil {
		return "", false
	}
	ck, err := r.Cookie(c.Name)
	if err != nil || ck.Value == "" {
		return "", false
	}
	return ck.Value, true
}
