package httpapi

import (
	"net/http"
	"strings"
)

// CodeMethodNotAllowed is the code of a 405.
const CodeMethodNotAllowed = "method_not_allowed"

// MethodNotAllowed is the 405 answer for method on a path that serves only
// allow, with the Allow header RFC 9110 §15.5.6 requires.
func MethodNotAllowed(method string, allow []string) *Error {
	list := strings.Join(allow, ", ")
	return &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
		Message: "method " + Quote(method) + " is not allowed here; use " + list, Header: http.Header{"Allow": {list}}}
}

// GETOnly serves h for GET and answers every other method, HEAD included,
// with 405 (Allow: GET) written by ew. http.ServeMux runs a "GET /path"
// handler for HEAD too (RFC 9110 §9.3.2 lets HEAD skip only the body, not
// the work), which must not happen on a GET route that changes state: a
// link checker's or prefetcher's HEAD of the cookie refresh would rotate the
// refresh token and throw the new one away.
func GETOnly(h http.Handler, ew ErrorWriter) http.Handler {
	if ew == nil {
		ew = WriteError
	}
	return getOnly{h: h, ew: ew}
}

type getOnly struct {
	h  http.Handler
	ew ErrorWriter
}

func (g getOnly) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		g.ew(w, r, MethodNotAllowed(r.Method, []string{http.MethodGet}))
		return
	}
	g.h.ServeHTTP(w, r)
}

// probed are the methods AllowedMethods asks a mux about, in the order an
// Allow header lists them.
var probed = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// AllowedMethods returns the methods for which mux has a route of r's path
// other than its catch-all pattern "/" (nil when there is none): what the
// catch-all answers with 405 and Allow instead of 404. A GET route also
// serves HEAD unless it is GETOnly.
func AllowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	probe := *r // mux.Handler reads the method, host and path only
	for _, m := range probed {
		probe.Method = m
		h, pattern := mux.Handler(&probe)
		if pattern == "" || pattern == "/" {
			continue
		}
		if _, refuses := h.(getOnly); refuses && m != http.MethodGet {
			continue
		}
		allow = append(allow, m)
	}
	return allow
}
