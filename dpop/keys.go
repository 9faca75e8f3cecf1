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
	"math/big"
	"slices"

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

// defaultAlgs is every algorithm Verifier accepts by default.
var defaultAlgs = [...]string{ES256, EdDSA, PS256, RS256}

// DefaultAlgs returns every algorithm Verifier accepts by default (a new
// slice each time).
func DefaultAlgs() []string { return slices.Clone(defaultAlgs[:]) }

// minRSABits is the smallest RSA modulus accepted (NIST SP 800-131A);
// maxRSABits the largest, and rsaExponent the only public exponent: the
// one every WebCrypto, Go and OpenSSL key uses (FIPS 186-5 §A.1.1 allows
// no smaller one). A verification's cost grows with the modulus and the
// exponent, and a proof is checked before any rate limit: an 8192-bit key
// or a huge exponent would make each hostile proof many times dearer.
const (
	minRSABits  = 2048
	maxRSABits  = 4096
	rsaExponent = 65537
)

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
// Ed25519, RSA of 2048 to 4096 bits with exponent 65537.
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
		if k.N == nil || k.N.BitLen() < minRSABits || k.N.BitLen() > maxRSABits {
			return fmt.Errorf("dpop: RSA key must have %d to %d bits", minRSABits, maxRSABits)
		}
		if k.E != rsaExponent {
			return fmt.Errorf("dpop: RSA public exponent must be %d", rsaExponent)
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

// verifySignature checks a JWS signature (RFC 7518 §3) of input by pub
// under alg, which keyAllows has matched to pub's type: ES256 as the
// 64-byte r||s, EdDSA as it is, RS256 PKCS #1 v1.5 and PS256 PSS over
// SHA-256, each exactly the modulus' length.
func verifySignature(alg string, pub crypto.PublicKey, input, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if alg != ES256 || len(sig) != 64 {
			return false
		}
		sum := sha256.Sum256(input)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k, sum[:], r, s)
	case ed25519.PublicKey:
		return alg == EdDSA && len(sig) == ed25519.SignatureSize && ed25519.Verify(k, input, sig)
	case *rsa.PublicKey:
		if len(sig) != k.Size() {
			return false
		}
		sum := sha256.Sum256(input)
		switch alg {
		case RS256:
			return rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil
		case PS256:
			return rsa.VerifyPSS(k, crypto.SHA256, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
	}
	return false
}
