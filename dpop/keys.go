package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Algorithms a proof may be signed with (RFC 9449 §4.3 point 5: asymmetric
// only, never "none" or a MAC), in the order servers advertise them.
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
	PS256 = "PS256"
	RS256 = "RS256"
)

// DefaultAlgs returns every algorithm Verifier accepts by default (a new
// slice each time).
func DefaultAlgs() []string { return []string{ES256, EdDSA, PS256, RS256} }

// minRSABits is the smallest RSA modulus accepted (NIST SP 800-131A).
const minRSABits = 2048

// Thumbprint returns the RFC 7638 JWK SHA-256 thumbprint of pub, base64url
// without padding: the jkt a DPoP-bound token carries (RFC 9449 §6.1).
func Thumbprint(pub crypto.PublicKey) (string, error) {
	if err := checkPublic(pub); err != nil {
		return "", err
	}
	sum, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("dpop: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// checkPublic accepts the public keys a proof may carry: ECDSA on P-256,
// Ed25519, RSA of at least 2048 bits.
func checkPublic(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("dpop: ECDSA key must be on P-256")
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("dpop: Ed25519 key of %d bytes", len(k))
		}
	case *rsa.PublicKey:
		if k.N == nil || k.N.BitLen() < minRSABits {
			return fmt.Errorf("dpop: RSA key under %d bits", minRSABits)
		}
	default:
		return fmt.Errorf("dpop: unsupported key type %T", pub)
	}
	return nil
}

// keyAllows reports whether alg may be used with pub (RFC 8725 §3.1: the
// algorithm is pinned to the key type).
func keyAllows(pub crypto.PublicKey, alg string) bool {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return alg == ES256
	case ed25519.PublicKey:
		return alg == EdDSA
	case *rsa.PublicKey:
		return alg == PS256 || alg == RS256
	}
	return false
}

// signingAlg is the algorithm NewProof uses for pub.
func signingAlg(pub crypto.PublicKey) (string, error) {
	if err := checkPublic(pub); err != nil {
		return "", err
	}
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return ES256, nil
	case ed25519.PublicKey:
		return EdDSA, nil
	default:
		return PS256, nil
	}
}

// AccessTokenHash returns the ath of a proof sent with accessToken:
// base64url(SHA-256(ASCII of the token)), RFC 9449 §4.2.
func AccessTokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
