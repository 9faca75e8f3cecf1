package dpop

import (
	"net/http"
	"testing"
)

// headerKey is the canonical form of the DPoP header's name, which
// FromHeader indexes directly: a request's "DPoP", "dpop" or "DPOP"
// header is found, and reading it allocates nothing.
func TestFromHeaderKey(t *testing.T) {
	if got := http.CanonicalHeaderKey("DPoP"); got != headerKey {
		t.Fatalf("CanonicalHeaderKey(DPoP) = %q, headerKey is %q", got, headerKey)
	}
	for _, name := range []string{"DPoP", "dpop", "DPOP"} {
		h := http.Header{}
		h.Set(name, "proof")
		if v, err := FromHeader(h); v != "proof" || err != nil {
			t.Errorf("FromHeader with %s: %q %v", name, v, err)
		}
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if n := testing.AllocsPerRun(100, func() { _, _ = FromHeader(h) }); n != 0 {
		t.Errorf("FromHeader of a request without DPoP: %v allocations", n)
	}
}
