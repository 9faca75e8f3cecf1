package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
)

// BenchmarkWithClientIP is the cost of putting the client IP in the
// request context for audit events (one request copy and one context).
func BenchmarkWithClientIP(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(auth.WithClientIP(r.Context(), httpapi.ClientIP{}.Of(r).String()))
		_ = r
	})
	req := httptest.NewRequest("POST", "/token", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
