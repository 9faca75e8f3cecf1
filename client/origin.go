package client

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Credentials go only to the origin they were meant for: the scheme, host
// and port of the request the caller made (RFC 6454 §4). A redirect to
// another origin, even to the same host over another scheme or port, is
// not trusted with them.

// origin returns u's origin, "scheme://host:port", with the default port
// of http and https filled in.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// redirectedWithin reports whether req is the caller's own request or a
// redirect that stayed at its origin. http.Client sets Response on the
// request of each redirect, with the request that got it redirected, back
// to the caller's; a chain it cannot follow is taken as leaving the origin.
func redirectedWithin(req *http.Request) bool {
	first := req
	for first.Response != nil {
		if first.Response.Request == nil {
			return false
		}
		first = first.Response.Request
	}
	return origin(first.URL) == origin(req.URL)
}

// sameOriginRedirects wraps an http.Client's CheckRedirect (nil: the
// default, at most 10 redirects) so that a redirect to another origin is
// not followed: the redirect itself becomes the answer.
func sameOriginRedirects(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if origin(req.URL) != origin(via[0].URL) {
			return http.ErrUseLastResponse
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}
