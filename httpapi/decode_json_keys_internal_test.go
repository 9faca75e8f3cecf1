package httpapi

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
)

// The repeated-field check once compared every top-level key with every
// earlier one: a 64 KiB body of ~6,000 distinct keys, which Feathers'
// non-strict decode accepts unauthenticated, cost a hundred times
// encoding/json's own decode of it. The check must do a bounded amount of
// work per key: past `few` keys, a key costs one map lookup, and the slice
// compared one by one stops growing. The test counts that work instead of
// timing it (these machines are shared and noisy).
func TestRepeatedKeyCheckIsBoundedPerKey(t *testing.T) {
	var c keyCheck
	const n = 6000
	const maxLinear = 64 // keys compared one by one, at most
	for i := range n {
		if c.repeated(fmt.Appendf(nil, "k%x", i)) {
			t.Fatalf("key %d reported repeated", i)
		}
		if len(c.seen) > maxLinear {
			t.Fatalf("after %d keys the check still compares %d keys one by one (at most %d)", i+1, len(c.seen), maxLinear)
		}
	}
	if len(c.seenMap) != n {
		t.Fatalf("the map holds %d keys, want %d", len(c.seenMap), n)
	}
	for _, i := range []int{0, few, few + 1, n - 1} {
		if !c.repeated(fmt.Appendf(nil, "k%x", i)) {
			t.Errorf("key %d not reported repeated", i)
		}
	}
}

// A body at the size limit made of distinct keys decodes (non-strict), and a
// key repeated at its end is still found.
func TestManyDistinctKeysDecode(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"email":"ann@example.com"`)
	for i := 0; b.Len() < MaxBodyBytes-64; i++ {
		fmt.Fprintf(&b, `,"%x":0`, i)
	}
	var dst struct {
		Email string `json:"email"`
	}
	decode := func(body string) error {
		r := httptest.NewRequest("POST", "/authentication", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		return DecodeJSON(r, &dst, DecodeOptions{})
	}
	if err := decode(b.String() + "}"); err != nil {
		t.Fatalf("%d distinct keys: %v", b.Len()/7, err)
	}
	if err := decode(b.String() + `,"email":"bob@example.com"}`); err == nil || !strings.Contains(err.Error(), "repeated") {
		t.Fatalf("a repeated key at the end: %v, want a repeated-field error", err)
	}
}
