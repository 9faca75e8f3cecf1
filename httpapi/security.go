package httpapi

import "net/http"

// SecurityOptions configure SecurityHeaders. The zero value suits a JSON API.
type SecurityOptions struct {
	// ContentSecurityPolicy, if set, is sent as Content-Security-Policy.
	// Set it for routes that serve HTML (the account page), for example
	// "default-src 'self'; frame-ancestors 'none'".
	ContentSecurityPolicy string
	// StrictTransportSecurity, if set, is sent as Strict-Transport-Security
	// (RFC 6797), e.g. "max-age=31536000". Only set it when the service is
	// reached over HTTPS.
	StrictTransportSecurity string
}

// SecurityHeaders sets, before the handler runs, the response headers that
// cost nothing and close whole classes of browser attacks:
// X-Content-Type-Options: nosniff (a JSON body is never sniffed as HTML or
// script), Referrer-Policy: no-referrer (URLs never leak to other sites),
// X-Frame-Options: DENY (no clickjacking), plus the optional headers of opts.
// A handler may still override any of them.
func SecurityHeaders(opts SecurityOptions) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("X-Frame-Options", "DENY")
			if opts.ContentSecurityPolicy != "" {
				h.Set("Content-Security-Policy", opts.ContentSecurityPolicy)
			}
			if opts.StrictTransportSecurity != "" {
				h.Set("Strict-Transport-Security", opts.StrictTransportSecurity)
			}
			next.ServeHTTP(w, r)
		})
	}
}
