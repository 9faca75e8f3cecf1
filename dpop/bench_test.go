package dpop_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/dpop"
)

// BenchmarkVerify is what one proof check costs a server: parse, verify the
// signature, check the claims, mark the jti in a memory cache.
func BenchmarkVerify(b *testing.B) {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for _, k := range []struct {
		name string
		key  crypto.Signer
	}{{"ES256", ecKey}, {"EdDSA", ed}} {
		b.Run(k.name, func(b *testing.B) {
			now := time.Now()
			v := &dpop.Verifier{Now: func() time.Time { return now }, Replay: dpop.NewMemoryReplay(1<<30, nil)}
			proofs := make([]string, b.N)
			for i := range proofs {
				var err error
				if proofs[i], err = dpop.NewProof(k.key, "POST", htu, dpop.ProofOptions{Now: now}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := v.Verify(context.Background(), proofs[i], "POST", htu, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
