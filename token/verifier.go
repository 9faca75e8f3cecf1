package token

import (
	"context"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Errors of key lookup. A Verifier's Key returns one of them (wrapped or
// bare) to say why it has no key, and VerifyAccess passes it on wrapped, so
// callers tell "not a token of ours" (answer 401) from "cannot check any
// token now" (answer 503) with errors.Is.
var (
	// ErrUnknownKey: the key set has no key with the token's kid (a forged
	// kid, or a key made after the set was loaded). It is a kind of
	// ErrSignature: errors.Is(err, ErrSignature) holds for it too.
	ErrUnknownKey = fmt.Errorf("%w: unknown key id", ErrSignature)
	// ErrKeysUnavailable: the verification keys cannot be had at the moment
	// (the JWKS URL does not answer, the database holding the keys is down),
	// so no token can be judged. It says nothing about the token: retry later.
	ErrKeysUnavailable = errors.New("token: verification keys unavailable")
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
	// bound how often it does. An unknown kid is an error (ErrUnknownKey, or
	// any error not wrapping ErrKeysUnavailable); a key set that cannot be
	// had is an error wrapping ErrKeysUnavailable.
	Key func(ctx context.Context, kid string) (PublicKey, error)
}

// asymmetric are the algorithms a Verifier accepts: a shared secret is never
// looked up from a key set.
var asymmetric = []string{ES256, EdDSA, RS256}

// VerifyAccess verifies an access token. Errors wrap the package's sentinel
// errors (ErrMalformed, ErrSignature, ErrWrongKind, ErrClaims, ErrExpired),
// or ErrKeysUnavailable when Key could not get the key set; a failed lookup's
// own error is wrapped too (%w), for errors.Is and the log.
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
			return AccessClaims{}, lookupError(lookupErr)
		}
		return AccessClaims{}, err
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	return checkAccess(p, extra, typ, v.Issuer, v.Audience, v.Leeway, now())
}

// lookupError is the error of a token whose key could not be looked up: the
// lookup's own error, wrapped so that it names exactly one kind.
func lookupError(err error) error {
	if errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrSignature) {
		return fmt.Errorf("token: key lookup: %w", err)
	}
	return fmt.Errorf("%w: %w", ErrSignature, err)
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
