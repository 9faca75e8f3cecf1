package httpapi_test

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/latchkey-dev/latchkey/httpapi"
)

// BenchmarkDecodeJSONStrict is the strict decode of a refresh request body,
// the JSON every refresh pays for.
func BenchmarkDecodeJSONStrict(b *testing.B) {
	body := []byte(`{"refreshToken":"eyJhbGciOiJIUzI1NiIsInR5cCI6InJ0K2p3dCJ9.eyJpc3MiOiJodHRwOi8vbG9jYWxob3N0OjgwODAiLCJzdWIiOiIwMTkzIn0.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmE"}`)
	var dst struct {
		RefreshToken string `json:"refreshToken"`
	}
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/token", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if err := httpapi.DecodeJSON(r, &dst, httpapi.DecodeOptions{Strict: true}); err != nil {
			b.Fatal(err)
		}
	}
}
