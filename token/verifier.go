package token

import (
	"context"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// PublicKey is a verification key and the one algorithm it may be used with.
type PublicKey struct {
	Key       any // *ecdsa.PublicKey, ed25519.PublicKey, *rsa.PublicKey
	Algorithm string
}

// Verifier checks access tokens with keys it looks up by kid: the way a
// service that only knows Latchkey's JWKS URL verifies them. It applies the
// same rules as Issuer.VerifyAccess (algorithm pinned per key, typ at+jwt,
// token_use access, iss, aud, exp/iat/nbf with Leeway) and never accepts a
// refresh token.
type Verifier struct {
	Issuer   string // required iss
	Audience string // required aud ("" skips the check)
	Leeway   time.Duration
	Now      func() time.Time // time.Now when nil
	// Key returns the key for a kid. It may fetch (a remote JWKS) and should
	// bound how often it does; an unknown kid is an error.
	Key func(ctx context.Context, kid string) (PublicKey, error)
}

// asymmetric are the algorithms a Verifier accepts: a shared secret is never
// looked up from a key set.
var asymmetric = []string{ES256, EdDSA, RS256}

// VerifyAccess verifies an access token. Errors wrap the package's sentinel
// errors (ErrMalformed, ErrSignature, ErrWrongKind, ErrClaims, ErrExpired).
func (v *Verifier) VerifyAccess(ctx context.Context, tok string) (AccessClaims, error) {
	var lookupErr error
	p, extra, typ, err := verifyAccessJWS(tok, nil, asymmetric, func(kid string) (*accessKey, bool) {
		if kid == "" {
			return nil, false
		}
		k, err := v.Key(ctx, kid)
		if err != nil {
			lookupErr = err
			return nil, false
		}
		return publicAccessKey(k), true
	})
	if err != nil {
		if typ == typRefresh {
			return AccessClaims{}, ErrWrongKind
		}
		if lookupErr != nil {
			return AccessClaims{}, fmt.Errorf("%w: %v", ErrSignature, lookupErr)
		}
		return AccessClaims{}, err
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	return checkAccess(p, extra, typ, v.Issuer, v.Audience, v.Leeway, now())
}

// PublicKeys returns the issuer's current verification keys by kid (for an
// in-process Verifier).
func (i *Issuer) PublicKeys() map[string]PublicKey {
	ks := i.keys.Load()
	if ks == nil {
		return nil
	}
	out := make(map[string]PublicKey, len(ks.verify))
	for kid, k := range ks.verify {
		if k.alg != jose.HS256 {
			out[kid] = PublicKey{Key: k.public, Algorithm: string(k.alg)}
		}
	}
	return out
}
