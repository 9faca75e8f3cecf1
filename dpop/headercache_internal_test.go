package dpop

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// A header is remembered by a copy of its encoded form, not by a slice of
// the proof it came in: the proof is up to MaxProofSize bytes and anyone
// can send one (its header is parsed, and remembered, before the signature
// is checked), so keeping the proof alive through the cache would let a
// stream of unsigned proofs with new headers pin headerCacheSize proofs of
// MaxProofSize bytes (32 MiB) rather than headers of at most
// maxCachedHeader bytes.
func TestHeaderCacheKeepsNoProof(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	good, err := NewProof(key, "POST", "https://auth.example.com/oauth/token", ProofOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	// The same header with a padded, wrong signature: refused, yet its header
	// parsed.
	h64 := good[:strings.IndexByte(good, '.')]
	big := good[:strings.LastIndexByte(good, '.')+1] + strings.Repeat("A", MaxProofSize-len(good))
	v := &Verifier{Now: func() time.Time { return now }}
	if _, err := v.Check(big, "POST", "https://auth.example.com/oauth/token", ""); Reason(err) != ReasonMalformed && Reason(err) != ReasonSignature {
		t.Fatalf("a padded proof: %v, want it refused", err)
	}
	headers.mu.RLock()
	defer headers.mu.RUnlock()
	found := false
	for k := range headers.m {
		if k != h64 {
			continue
		}
		found = true
		p, start := uintptr(unsafe.Pointer(unsafe.StringData(k))), uintptr(unsafe.Pointer(unsafe.StringData(big)))
		if p >= start && p < start+uintptr(len(big)) {
			t.Fatalf("the cached header shares the %d-byte proof's memory, keeping it alive", len(big))
		}
	}
	if !found {
		t.Fatal("the header was not cached; the test no longer exercises the cache")
	}
}

// Checks running at once while a stream of new headers fills the cache
// again and again (it starts again empty when full) each get their own
// header's key: a client's proofs verify throughout, and none verifies
// under another's key. Run under -race, it also checks the cache's locking.
func TestHeaderCacheConcurrent(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	const url = "https://auth.example.com/oauth/token"
	v := &Verifier{Now: func() time.Time { return now }}
	newKey := func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Error(err)
		}
		return k
	}
	const workers, each = 4, headerCacheSize/2 + 64 // half of them new headers: together past one fill
	errs := make(chan error, workers)
	for range workers {
		go func() {
			mine := newKey()
			for i := range each {
				k := mine
				if i%2 == 1 {
					k = newKey() // a header never seen
				}
				p, err := NewProof(k, "POST", url, ProofOptions{Now: now})
				if err == nil {
					var got *Proof
					got, err = v.Check(p, "POST", url, "")
					if err == nil {
						want, _ := Thumbprint(k.Public())
						if got.JKT != want {
							err = errors.New("a proof verified under another key")
						}
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
