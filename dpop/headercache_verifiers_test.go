package dpop_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"

	"github.com/latchkey-dev/latchkey/dpop"
)

// TestCachedHeaderAcrossVerifiers: the header cache is shared by every
// Verifier; a header cached by one that allows its alg is refused by one
// that does not (on the hit), and the thumbprint of a proof's key is the
// RFC 7638 one, on a miss and a hit, for every key type, concurrently.
func TestCachedHeaderAcrossVerifiers(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		alg    string
		signer crypto.Signer
		other  string
	}{{dpop.ES256, ec, dpop.EdDSA}, {dpop.EdDSA, ed, dpop.ES256}, {dpop.PS256, rs, dpop.ES256}} {
		want, err := dpop.Thumbprint(tc.signer.Public())
		if err != nil {
			t.Fatal(err)
		}
		allowing := &dpop.Verifier{Algs: []string{tc.alg}}
		refusing := &dpop.Verifier{Algs: []string{tc.other}}
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := dpop.NewProof(tc.signer, "GET", "https://a.example/x", dpop.ProofOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				got, err := allowing.Check(p, "GET", "https://a.example/x", "")
				if err != nil || got.JKT != want {
					t.Errorf("%s: %v, jkt %v; want %s", tc.alg, err, got, want)
				}
				if _, err := refusing.Check(p, "GET", "https://a.example/x", ""); dpop.Reason(err) != dpop.ReasonAlg {
					t.Errorf("%s by a Verifier allowing only %s: %v; want alg refused", tc.alg, tc.other, err)
				}
			}()
		}
		wg.Wait()
	}
}
