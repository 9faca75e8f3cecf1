package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/httpapi"
)

// The key checks of DecodeJSON (a repeated field, a name that folds onto a
// field's) compared every top-level key with every earlier one: a 64 KiB
// body of ~6,000 distinct keys, which Feathers' non-strict decode accepts
// unauthenticated, cost ~0.2 s of CPU, a hundred times encoding/json's own
// decode of it, so a few requests a second kept a core busy. The checks must
// cost a small multiple of the decode itself, not grow with the square of
// the keys. Both are timed as the fastest of a few runs and compared with
// each other (not with a clock budget), with a wide margin.
func TestDecodeJSONKeyChecksStayLinear(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"email":"ann@example.com"`)
	for i := 0; b.Len() < httpapi.MaxBodyBytes-16; i++ {
		fmt.Fprintf(&b, `,"%x":0`, i)
	}
	b.WriteString("}")
	body := b.Bytes()
	var dst struct {
		Email    string `json:"email"`
		Strategy string `json:"strategy"`
	}
	fastest := func(f func()) time.Duration {
		best := time.Duration(1<<63 - 1)
		for range 5 {
			start := time.Now()
			f()
			best = min(best, time.Since(start))
		}
		return best
	}
	plain := fastest(func() {
		if err := json.Unmarshal(body, &dst); err != nil {
			t.Fatal(err)
		}
	})
	checked := fastest(func() {
		r := httptest.NewRequest("POST", "/authentication", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if err := httpapi.DecodeJSON(r, &dst, httpapi.DecodeOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%d bytes: encoding/json %v, DecodeJSON %v", len(body), plain, checked)
	if checked > 20*plain+time.Millisecond {
		t.Fatalf("DecodeJSON took %v for what encoding/json decodes in %v: the key checks grow faster than the body", checked, plain)
	}
}
