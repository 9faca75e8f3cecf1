package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Origins is the allow-list of browser origins (CORS_ALLOWED_ORIGINS) that
// may call the API with credentials from another site. The zero value
// allows no cross-origin caller.
type Origins struct {
	set map[string]struct{}
	// self are this server's own origins (SameOriginOrAllowed); they are
	// not CORS-allowed by being here: a same-origin page needs no CORS.
	self map[string]struct{}
}

// WithSelf returns o with the origins of baseURLs (such as PUBLIC_URL and
// the issuer, "https://auth.example.com/prefix") counted as this server's
// own by SameOriginOrAllowed, beside the request's Host: behind a proxy
// that rewrites Host, a page of the public origin is still same-origin.
// URLs that do not parse as http(s) base URLs are skipped.
func (o Origins) WithSelf(baseURLs ...string) Origins {
	self := make(map[string]struct{}, len(o.self)+len(baseURLs))
	for k := range o.self {
		self[k] = struct{}{}
	}
	for _, b := range baseURLs {
		u, err := url.Parse(b)
		if err != nil || u.Host == "" {
			continue
		}
		if norm, err := normaliseOrigin(u.Scheme + "://" + u.Host); err == nil {
			self[norm] = struct{}{}
		}
	}
	o.self = self
	return o
}

// NewOrigins builds an allow-list from origins such as
// "https://app.example.com" or "http://localhost:3000". Entries are
// normalised as browsers serialise an Origin header (RFC 6454 §6.1): the
// scheme and host lower-cased, a default port and a trailing slash removed.
// It refuses "*" (a wildcard cannot be combined with credentials, Fetch
// standard §3.2.5), "null", and anything with a path, query or user info, so
// that a typo in the configuration stops start-up instead of silently
// allowing nothing. Blank entries are skipped.
func NewOrigins(origins []string) (Origins, error) {
	o := Origins{set: make(map[string]struct{}, len(origins))}
	for _, s := range origins {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		norm, err := normaliseOrigin(s)
		if err != nil {
			return Origins{}, err
		}
		o.set[norm] = struct{}{}
	}
	return o, nil
}

func normaliseOrigin(s string) (string, error) {
	if s == "*" || s == "null" {
		return "", fmt.Errorf("allowed origin %q: list each origin explicitly", s)
	}
	u, err := url.Parse(strings.TrimSuffix(s, "/"))
	if err != nil {
		return "", fmt.Errorf("allowed origin %q: %w", s, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("allowed origin %q: want scheme://host[:port], e.g. https://app.example.com", s)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// Allowed reports whether origin, an Origin header's value, is on the list.
// The comparison is exact, as browsers send a serialised origin.
func (o Origins) Allowed(origin string) bool {
	_, ok := o.set[origin]
	return ok
}

// SameOriginOrAllowed reports whether a request may act on the caller's
// cookies: the defence of every route that reads, sets or clears the refresh
// cookie against cross-site requests (RefreshCookie.CrossSite). It is
// true when
//
//   - there is no Origin header and the browser did not mark the request
//     Sec-Fetch-Site: cross-site (non-browser clients send neither, and
//     browsers omit Origin on same-origin GETs);
//   - the Origin's host equals the request's Host (same origin), and its
//     scheme is not known to be wrong: over a TLS connection it must be
//     https, and it must be the scheme of this server's own origin of that
//     host (WithSelf) if there is one. Otherwise the scheme is not compared,
//     which would need trusting X-Forwarded-Proto;
//   - the Origin is one of this server's own (WithSelf); or
//   - the Origin is allowed.
//
// "Origin: null" (sandboxed frames, some redirects) is never same-origin.
func (o Origins) SameOriginOrAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		// Fetch Metadata (W3C): a modern browser states where a request
		// came from even when it sends no Origin, e.g. a top-level
		// navigation from another site.
		return r.Header.Get("Sec-Fetch-Site") != "cross-site"
	}
	if o.Allowed(origin) {
		return true
	}
	if _, ok := o.self[origin]; ok {
		return true
	}
	if origin == "null" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	// The scheme is part of the origin (RFC 6454 §4). A page over plain
	// http on this server's host is one a network attacker can forge (on a
	// first visit, or without preloaded HSTS); were it same-origin, its form
	// POST would sign the browser in as the attacker and plant even a
	// __Host- cookie, which no insecure origin may set.
	scheme := strings.ToLower(u.Scheme)
	if r.TLS != nil && scheme != "https" || o.selfOtherScheme(scheme, u.Host) {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// selfOtherScheme reports whether one of this server's own origins has host
// (as an Origin header spells it) with another scheme than scheme.
func (o Origins) selfOtherScheme(scheme, host string) bool {
	for s := range o.self {
		sch, h, _ := strings.Cut(s, "://")
		if sch != scheme && strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// CORS answers cross-origin requests from allowed origins (Fetch standard,
// "CORS protocol"). For an allowed Origin it sets
// Access-Control-Allow-Origin to that exact origin (never "*", which
// browsers refuse with credentials), Access-Control-Allow-Credentials: true
// (the refresh cookie) and Access-Control-Expose-Headers: Retry-After (not
// a safelisted header, and clients need it on a 429 or 503), DPoP-Nonce and
// WWW-Authenticate (a DPoP client reads the nonce and the challenge's error,
// RFC 9449 §8, §9), and Date (not safelisted either: a client whose clock
// is off dates its next DPoP proof by the server's, since a proof's iat
// must fall within the server's window). It answers a
// preflight (OPTIONS with Access-Control-Request-Method) itself: 204 with the
// methods and headers the API uses, cached for two hours (Chromium's cap),
// or 403 with no CORS headers for an origin not on the list. Other requests
// from origins not on the list pass through without CORS headers, so the
// browser hides the response from the calling page.
//
// Vary: Origin is always added, so a shared cache never serves one origin's
// answer to another.
func CORS(o Origins) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Add("Vary", "Origin")
			origin := r.Header.Get("Origin")
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			if origin == "" {
				next.ServeHTTP(w, r)
				return
			}
			allowed := o.Allowed(origin)
			if preflight {
				h.Add("Vary", "Access-Control-Request-Method")
				h.Add("Vary", "Access-Control-Request-Headers")
				if !allowed {
					w.WriteHeader(http.StatusForbidden)
					return
				}
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
				h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP")
				h.Set("Access-Control-Max-Age", "7200")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			if allowed {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
				h.Set("Access-Control-Expose-Headers", "Retry-After, DPoP-Nonce, WWW-Authenticate, Date")
			}
			next.ServeHTTP(w, r)
		})
	}
}
