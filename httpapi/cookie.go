package httpapi

import (
	"net/http"
	"time"
)

// RefreshCookie writes the refresh token as an HttpOnly cookie for the
// cookie dialect. Every dialect's sign-in and refresh calls Set when the
// cookie is switched on (REFRESH_COOKIE), and sign-out calls Clear, so a
// browser session started through any front door can be refreshed through
// GET /api/refresh/refreshtoken.
type RefreshCookie struct {
	Name string
	// Path must cover the cookie-refresh route; "/" is used when empty. A
	// cookie set by /auth/sign-in without a Path would default to /auth (RFC
	// 6265 §5.1.4) and never reach /api/refresh/refreshtoken.
	Path string
	// Production cookies are Secure and SameSite=Strict; development ones
	// are SameSite=Lax and not Secure, so they work over http://localhost.
	Production bool
	// Now is the clock the expiry times passed to Set were computed with;
	// Max-Age is measured from it. time.Now when nil.
	Now func() time.Time
}

func (c *RefreshCookie) cookie(value string, expires time.Time) *http.Cookie {
	path := c.Path
	if path == "" {
		path = "/"
	}
	ck := &http.Cookie{Name: c.Name, Value: value, Path: path, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if c.Production {
		ck.Secure, ck.SameSite = true, http.SameSiteStrictMode
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

// Set sets the cookie to token until expires. A nil *RefreshCookie (the
// cookie switched off) does nothing.
func (c *RefreshCookie) Set(w http.ResponseWriter, token string, expires time.Time) {
	if c == nil || token == "" {
		return
	}
	http.SetCookie(w, c.cookie(token, expires))
}

// Clear deletes the cookie. A nil *RefreshCookie does nothing.
func (c *RefreshCookie) Clear(w http.ResponseWriter) {
	if c == nil {
		return
	}
	http.SetCookie(w, c.cookie("", time.Time{}))
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
