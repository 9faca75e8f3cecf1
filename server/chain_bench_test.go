package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey-dev/latchkey/httpapi"
)

// BenchmarkWithClientIP is the cost of putting the client IP in the
// request context for audit events (one request copy and one context).
func BenchmarkWithClientIP(b *testing.B) {
	h := withClientIP(httpapi.ClientIP{})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest("POST", "/token", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
