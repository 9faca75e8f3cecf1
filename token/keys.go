package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-dev/latchkey/store"
)

// Supported access-token algorithms.
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
	RS256 = "RS256"
	HS256 = "HS256"
)

// ValidAlgorithm reports whether alg can sign access tokens.
func ValidAlgorithm(alg string) bool {
	switch alg {
	case ES256, EdDSA, RS256, HS256:
		return true
	}
	return false
}

// GenerateKey makes a new asymmetric signing key for alg, created at now, with
// a random kid. HS256 keys are not generated here: they come from JWT_SECRET
// (see SecretKey).
func GenerateKey(alg string, now time.Time) (store.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return store.SigningKey{}, fmt.Errorf("token: cannot generate a key for algorithm %q", alg)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("token: generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("token: encode %s key: %w", alg, err)
	}
	return store.SigningKey{KID: randomID(12), Algorithm: alg, Private: der, CreatedAt: now.UTC()}, nil
}

// SecretKey wraps a shared HS256 secret (JWT_SECRET) as a signing key. Its
// kid is derived from the secret's hash so every instance agrees on it
// without publishing the secret.
func SecretKey(secret []byte) store.SigningKey {
	sum := sha256.Sum256(append([]byte("latchkey-kid:"), secret...))
	return store.SigningKey{
		KID:       "hs-" + base64.RawURLEncoding.EncodeToString(sum[:9]),
		Algorithm: HS256,
		Private:   secret,
	}
}

// parsedKey is a signing key ready for use.
type parsedKey struct {
	kid       string
	alg       jose.SignatureAlgorithm
	private   any // crypto.Signer or []byte (HS256)
	public    any // crypto.PublicKey or []byte (HS256)
	retiredAt time.Time
}

func parseKey(k store.SigningKey) (parsedKey, error) {
	pk := parsedKey{kid: k.KID, alg: jose.SignatureAlgorithm(k.Algorithm), retiredAt: k.RetiredAt}
	if k.Algorithm == HS256 {
		if len(k.Private) < 32 {
			return pk, fmt.Errorf("token: HS256 key %s is shorter than 32 bytes", k.KID)
		}
		pk.private, pk.public = k.Private, k.Private
		return pk, nil
	}
	raw, err := x509.ParsePKCS8PrivateKey(k.Private)
	if err != nil {
		return pk, fmt.Errorf("token: key %s: %w", k.KID, err)
	}
	signer, ok := raw.(crypto.Signer)
	if !ok {
		return pk, fmt.Errorf("token: key %s is not a signing key", k.KID)
	}
	okAlg := false
	switch signer.(type) {
	case *ecdsa.PrivateKey:
		okAlg = k.Algorithm == ES256
	case ed25519.PrivateKey:
		okAlg = k.Algorithm == EdDSA
	case *rsa.PrivateKey:
		okAlg = k.Algorithm == RS256
	}
	if !okAlg {
		return pk, fmt.Errorf("token: key %s does not match algorithm %s", k.KID, k.Algorithm)
	}
	pk.private, pk.public = signer, signer.Public()
	return pk, nil
}

func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("token: crypto/rand failed: " + err.Error()) // rand.Read never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
