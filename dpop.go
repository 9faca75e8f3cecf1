package latchkey

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/latchkey-dev/latchkey/dpop"
	"github.com/latchkey-dev/latchkey/httpapi"
)

// dpopNonceSecret names the store secret DPoP nonces are derived from
// (Store.Secret): one value for every instance, so a nonce one issues is
// accepted by all (RFC 9449 §8 leaves the nonce's form to the server).
const dpopNonceSecret = "dpop_nonce"

// newDPoP builds the DPoP setup of the routes from o.
func newDPoP(ctx context.Context, o Options) (*httpapi.DPoP, error) {
	mode := o.DPoP
	switch mode {
	case "":
		mode = DPoPAllowed
	case DPoPOff, DPoPAllowed, DPoPRequired:
	default:
		return nil, fmt.Errorf("latchkey: Options.DPoP %q: want %q, %q or %q", o.DPoP, DPoPOff, DPoPAllowed, DPoPRequired)
	}
	if o.DPoPProofLifetime < 0 {
		return nil, fmt.Errorf("latchkey: Options.DPoPProofLifetime %v is negative", o.DPoPProofLifetime)
	}
	v := &dpop.Verifier{Lifetime: o.DPoPProofLifetime, Now: o.Now}
	if o.DPoPNonce {
		secret, err := o.Store.Secret(ctx, dpopNonceSecret, func() ([]byte, error) {
			b := make([]byte, 32)
			_, err := rand.Read(b)
			return b, err
		})
		if err != nil {
			return nil, fmt.Errorf("latchkey: DPoP nonce secret: %w", err)
		}
		if v.Nonces, err = dpop.NewNonces(secret, o.DPoPNonceStep, o.Now); err != nil {
			return nil, fmt.Errorf("latchkey: %w", err)
		}
	}
	external := o.PublicURL
	if external == "" {
		external = o.Issuer
	}
	return &httpapi.DPoP{Mode: mode, Verifier: v, External: external}, nil
}
