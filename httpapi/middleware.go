package httpapi

import "net/http"

// Middleware wraps a handler. Every middleware in this package is a
// constructor returning one, so they compose with Chain.
type Middleware func(http.Handler) http.Handler

// Chain wraps h in mws, the first outermost: Chain(h, a, b) is a(b(h)), and
// a request passes through a, then b, then h.
func Chain(h http.Handler, mws ...Middleware) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// LimitBody caps every request body at n bytes (MaxBodyBytes when n <= 0)
// with http.MaxBytesReader, so that a handler that reads a body without
// DecodeJSON or DecodeForm is bounded too, and so that the server closes a
// connection whose body was too long instead of reading the rest of it.
// DecodeJSON and DecodeForm answer 413 under either limit.
func LimitBody(n int64) Middleware {
	if n <= 0 {
		n = MaxBodyBytes
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, n)
			}
			next.ServeHTTP(w, r)
		})
	}
}
