package latchkey

import (
	"fmt"
	"net/http"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/httpapi/canonical"
	cookiedialect "github.com/latchkey-dev/latchkey/httpapi/cookie"
	"github.com/latchkey-dev/latchkey/httpapi/feathers"
	"github.com/latchkey-dev/latchkey/httpapi/login"
	"github.com/latchkey-dev/latchkey/httpapi/oauth2"
)

// CookiePath is the refresh cookie's Path below the prefix: it covers the
// cookie dialect's GET /api/refresh/refreshtoken whichever route set it (a
// cookie set by /auth/sign-in without a Path would default to /auth, RFC 6265
// §5.1.4, and never be sent back there).
const CookiePath = "/api/refresh"

// refreshCookie returns the cookie writer, or nil when the cookie is off.
func (h *Handler) refreshCookie() *httpapi.RefreshCookie {
	if h.opts.CookieName == "" {
		return nil
	}
	return &httpapi.RefreshCookie{Name: h.opts.CookieName, Path: h.opts.Prefix + CookiePath, Production: h.opts.SecureCookie,
		Now: h.opts.Now, Origins: h.origins()}
}

// origins is the cross-site rule's allow-list: CORS_ALLOWED_ORIGINS, and
// this server's own public origins besides the request's Host.
func (h *Handler) origins() httpapi.Origins {
	origins, _ := httpapi.NewOrigins(h.opts.CORSOrigins) // checked by New
	return origins.WithSelf(h.opts.PublicURL, h.opts.Issuer)
}

// Register mounts the enabled dialects' routes on mux (paths without the
// prefix, no middleware). Use it to serve Latchkey's routes from a mux that
// has routes of its own, and wrap that mux with Wrap.
func (h *Handler) Register(mux *http.ServeMux) {
	ip, cookie := h.ip(), h.refreshCookie()
	if h.enabled(Canonical) {
		canonical.Register(mux, canonical.Options{Service: h.Service, ClientIP: ip, Cookie: cookie, TokenResponse: h.opts.TokenResponse})
	}
	if h.enabled(OAuth2) {
		base := h.opts.PublicURL
		if base == "" {
			base = h.opts.Issuer
		}
		oauth2.Register(mux, oauth2.Options{Service: h.Service, ClientIP: ip, Cookie: cookie, Issuer: h.opts.Issuer, BaseURL: base})
	}
	if h.enabled(Login) {
		// GET /auth/me is canonical's when both are on (ServeMux panics on duplicates).
		login.Register(mux, login.Options{Service: h.Service, ClientIP: ip, Cookie: cookie, Me: !h.enabled(Canonical)})
	}
	if h.enabled(Cookie) {
		cookiedialect.Register(mux, cookiedialect.Options{Service: h.Service, ClientIP: ip, Cookie: cookie, Origins: h.origins()})
	}
	if h.enabled(Feathers) {
		feathers.Register(mux, feathers.Options{Service: h.Service, ClientIP: ip, Cookie: cookie})
	}
}

// Wrap puts the middleware every route shares around next: the client
// address (for audit events) and the DPoP setup (RFC 9449) in the context,
// the DPoP-Nonce header, access log (never query strings
// or bodies), Options.Instrument, panic recovery, security headers, CORS for
// the allowed origins, and the 64 KiB body limit.
func (h *Handler) Wrap(next http.Handler) http.Handler {
	origins, _ := httpapi.NewOrigins(h.opts.CORSOrigins) // checked by New
	mws := []httpapi.Middleware{
		withRequestContext(h.ip(), h.dpop), // outermost: it replaces the request, so everything below shares one *http.Request
		h.warnUndeclaredProxy,
		httpapi.AccessLog(h.opts.Logger, h.ip()),
	}
	if h.opts.Instrument != nil {
		mws = append(mws, h.opts.Instrument) // reads the r.Pattern the mux sets; outside Recover to count its 500s
	}
	mws = append(mws,
		httpapi.Recover(h.opts.Logger),
		httpapi.SecurityHeaders(httpapi.SecurityOptions{}),
		httpapi.CORS(origins),
		httpapi.LimitBody(httpapi.MaxBodyBytes),
	)
	return httpapi.Chain(next, mws...)
}

// withRequestContext puts in the request context the client's address,
// where the domain finds it for audit events of calls that take no
// auth.Meta, and the DPoP setup (httpapi.WithDPoP), in one copy of the
// request; and it sends the current DPoP nonce, if any, on every response.
func withRequestContext(ip httpapi.ClientIP, d *httpapi.DPoP) httpapi.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			d.SetNonce(w.Header())
			ctx := httpapi.WithDPoP(r.Context(), d)
			if a := ip.Of(r); a.IsValid() {
				ctx = auth.WithClientIP(ctx, a.String())
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// warnUndeclaredProxy warns once when requests carry a forwarding header
// from an address Options.TrustedProxies does not list. Behind a proxy nobody
// declared, every client has the proxy's address: the per-IP rate limits
// count all of them as one (a few dozen failed sign-ins by anyone refuse
// everyone's), and audit events show the proxy. Latchkey cannot tell such a
// proxy from a client forging the header, so it does not guess: it says so.
func (h *Handler) warnUndeclaredProxy(next http.Handler) http.Handler {
	ip := h.ip()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.proxyWarned.Load() {
			if peer, ok := ip.UndeclaredProxy(r); ok && h.proxyWarned.CompareAndSwap(false, true) {
				h.opts.Logger.WarnContext(r.Context(), "latchkey: requests carry X-Forwarded-For (or Forwarded) from an address "+
					"that Options.TrustedProxies (TRUSTED_PROXIES) does not list: if it is your proxy, every client behind it "+
					"counts as this one address in the per-IP rate limits and audit events; list it. "+
					"(Said once; ignore it if that address is a client forging the header.)", "peer", peer.String())
			}
		}
		next.ServeHTTP(w, r)
	})
}

// routes is the handler New returns: the dialects, a JSON 405 or 404 for
// anything else, the shared middleware, and the prefix stripped.
func (h *Handler) routes() (http.Handler, error) {
	if _, err := httpapi.NewOrigins(h.opts.CORSOrigins); err != nil {
		return nil, fmt.Errorf("latchkey: CORS origins: %w", err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	mux.Handle("/", Fallback(mux))
	var out http.Handler = h.Wrap(mux)
	if h.opts.Prefix != "" {
		out = http.StripPrefix(h.opts.Prefix, out)
	}
	return out, nil
}

// NotFound answers every request with a JSON 404.
func NotFound() http.Handler {
	return httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return notFound()
	}, nil)
}

func notFound() error {
	return &httpapi.Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such route"}
}

// Fallback is the handler of mux's catch-all pattern "/": a path that mux
// serves for other methods answers 405 with their list in Allow (RFC 9110
// §15.5.6), anything else the JSON 404 of NotFound. Register it last:
//
//	mux.Handle("/", latchkey.Fallback(mux))
func Fallback(mux *http.ServeMux) http.Handler {
	return httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		if allow := httpapi.AllowedMethods(mux, r); len(allow) > 0 {
			return httpapi.MethodNotAllowed(r.Method, allow)
		}
		return notFound()
	}, nil)
}
