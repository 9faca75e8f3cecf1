package dpop_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/dpop"
)

// Hostile keys and URLs against Check: keys of the wrong curve or size,
// points off the curve, non-canonical encodings and symmetric or exchange
// keys are refused; JOSE header members the verifier does not act on (jku,
// x5u, kid, b64) change nothing, since the key is only ever the embedded
// jwk; htu spellings that RFC 3986 §6.2.2-6.2.3 makes equal to the request's
// URL are accepted and every other one refused; iat is accepted exactly up
// to the window's edges.
func TestHostileKeysAndURLs(t *testing.T) {
	v := &dpop.Verifier{Now: clock(t0)}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	exponent3 := jwkOf(t, rsa2048.Public())
	exponent3["e"] = b64.EncodeToString([]byte{3})
	hugeExponent := jwkOf(t, rsa2048.Public())
	hugeExponent["e"] = b64.EncodeToString(new(big.Int).Lsh(big.NewInt(1), 8000).Add(new(big.Int).Lsh(big.NewInt(1), 8000), big.NewInt(1)).Bytes())
	rsa8192 := jwkOf(t, rsa2048.Public())
	rsa8192["n"] = b64.EncodeToString(new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 8191), big.NewInt(1)).Bytes())
	rs256 := func(jwk map[string]any) string {
		return forge(t, rsa2048, with(with(goodHead(t), "alg", "RS256"), "jwk", jwk), goodClaims())
	}
	offCurve := jwkOf(t, ecKey.Public())
	offCurve["y"] = b64.EncodeToString(new(big.Int).Add(ecKey.Y, big.NewInt(1)).FillBytes(make([]byte, 32)))
	leadingZero := jwkOf(t, ecKey.Public())
	leadingZero["x"] = b64.EncodeToString(append([]byte{0}, ecKey.X.FillBytes(make([]byte, 32))...))
	x25519 := map[string]any{"kty": "OKP", "crv": "X25519", "x": b64.EncodeToString(make([]byte, 32))}
	identity := make([]byte, 32)
	identity[0] = 1 // the Ed25519 identity point: a "key" any signature (R = identity, S = 0) would verify under
	smallOrder := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64.EncodeToString(identity)}
	withIdentitySig := func(p string) string {
		return p[:strings.LastIndexByte(p, '.')+1] + b64.EncodeToString(append(append([]byte(nil), identity...), make([]byte, 32)...))
	}
	refused := []struct {
		name, proof, reason string
	}{
		{"P-384 key as ES256", forge(t, ecKey, with(goodHead(t), "jwk", jwkOf(t, p384.Public())), goodClaims()), dpop.ReasonJWK},
		{"RSA 1024", forge(t, rsa1024, with(with(goodHead(t), "alg", "RS256"), "jwk", jwkOf(t, rsa1024.Public())), goodClaims()), dpop.ReasonJWK},
		{"RSA exponent 3", rs256(exponent3), dpop.ReasonJWK},
		{"RSA exponent of 8,001 bits", rs256(hugeExponent), dpop.ReasonJWK},
		{"RSA 8192", rs256(rsa8192), dpop.ReasonJWK},
		{"point off the curve", forge(t, ecKey, with(goodHead(t), "jwk", offCurve), goodClaims()), dpop.ReasonJWK},
		{"coordinate with a leading zero", forge(t, ecKey, with(goodHead(t), "jwk", leadingZero), goodClaims()), dpop.ReasonJWK},
		{"X25519 key", forge(t, ecKey, with(with(goodHead(t), "alg", "EdDSA"), "jwk", x25519), goodClaims()), dpop.ReasonJWK},
		{"Ed25519 identity point", withIdentitySig(forge(t, ecKey, with(with(goodHead(t), "alg", "EdDSA"), "jwk", smallOrder), goodClaims())), dpop.ReasonJWK},
		{"trailing slash", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", htu+"/")), dpop.ReasonHTU},
		{"empty segment", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", "https://auth.example.com/oauth//token")), dpop.ReasonHTU},
		{"path case", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", "https://auth.example.com/OAUTH/token")), dpop.ReasonHTU},
		{"encoded slash", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", "https://auth.example.com/oauth%2Ftoken")), dpop.ReasonHTU},
		{"trailing dot in the host", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", "https://auth.example.com./oauth/token")), dpop.ReasonHTU},
		{"IDN host not in its A-label", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", "https://authé.example.com/oauth/token")), dpop.ReasonHTU},
		{"backslash", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", `https://auth.example.com\oauth/token`)), dpop.ReasonHTU},
		{"empty query", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", htu+"?")), dpop.ReasonHTU},
		{"user information", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", "https://u@auth.example.com/oauth/token")), dpop.ReasonHTU},
		{"iat a second past the window", forge(t, ecKey, goodHead(t), with(goodClaims(), "iat", t0.Add(-66*time.Second).Unix())), dpop.ReasonIAT},
		{"iat far in the future", forge(t, ecKey, goodHead(t), with(goodClaims(), "iat", t0.Add(24*time.Hour).Unix())), dpop.ReasonIAT},
		{"iat out of range", forge(t, ecKey, goodHead(t), with(goodClaims(), "iat", 1e300)), dpop.ReasonIAT},
		{"jti a number", forge(t, ecKey, goodHead(t), with(goodClaims(), "jti", 5)), dpop.ReasonJTI},
		{"ath over the Authorization value", forge(t, ecKey, goodHead(t), with(goodClaims(), "ath", dpop.AccessTokenHash("DPoP tok"))), dpop.ReasonATH},
		{"ath over the token's payload", forge(t, ecKey, goodHead(t), with(goodClaims(), "ath", dpop.AccessTokenHash("t"))), dpop.ReasonATH},
	}
	for _, tc := range refused {
		if _, err := v.Check(tc.proof, "POST", htu, "tok"); dpop.Reason(err) != tc.reason {
			t.Errorf("%s: %v, want reason %s", tc.name, err, tc.reason)
		}
	}
	extraJWK := jwkOf(t, ecKey.Public())
	extraJWK["kid"], extraJWK["use"], extraJWK["key_ops"] = "k", "enc", []string{"encrypt"}
	accepted := []struct{ name, proof string }{
		{"jku, x5u, kid and b64 in the header", forge(t, ecKey, with(with(with(with(goodHead(t), "jku", "https://evil.example/jwks"),
			"x5u", "https://evil.example/cert"), "kid", "other"), "b64", false), goodClaims())},
		{"kid, use and key_ops in the jwk", forge(t, ecKey, with(goodHead(t), "jwk", extraJWK), goodClaims())},
		{"upper-case scheme and host", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", "HTTPS://AUTH.EXAMPLE.COM/oauth/token"))},
		{"default port", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", "https://auth.example.com:443/oauth/token"))},
		{"encoded unreserved character", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", "https://auth.example.com/oauth/%74oken"))},
		{"dot-segments", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", "https://auth.example.com/x/../oauth/./token"))},
		{"iat at the window's end", forge(t, ecKey, goodHead(t), with(goodClaims(), "iat", t0.Add(-65*time.Second).Unix()))},
		{"iat at the leeway's end", forge(t, ecKey, goodHead(t), with(goodClaims(), "iat", t0.Add(5*time.Second).Unix()))},
	}
	for _, tc := range accepted {
		if _, err := v.Check(tc.proof, "POST", htu, ""); err != nil {
			t.Errorf("%s: %v, want accepted", tc.name, err)
		}
	}
	// The key a jku or x5u names is never used: a proof signed by another
	// key than the embedded jwk's is refused however the header points.
	p := forge(t, ecKey2, with(with(goodHead(t), "jku", "https://evil.example/jwks"), "kid", "k2"), goodClaims())
	if _, err := v.Check(p, "POST", htu, ""); dpop.Reason(err) != dpop.ReasonSignature {
		t.Errorf("signed by another key than the jwk's: %v", err)
	}
}

// Instances' clocks differ a little: just after a step boundary by the
// clock of one instance, the nonce it hands out is for a step the
// instance behind has not reached yet. That instance accepts it (the step
// after its own), so a client is not sent round again because its
// requests landed on instances a few seconds apart; a nonce two steps
// ahead, or stale, is still refused.
func TestNoncesAcrossSkewedInstances(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	step := 5 * time.Minute
	boundary := t0.Truncate(step).Add(step)
	ahead, _ := dpop.NewNonces(secret, step, clock(boundary.Add(5*time.Second)))
	behind, _ := dpop.NewNonces(secret, step, clock(boundary.Add(-5*time.Second)))
	if ahead.Current() == behind.Current() {
		t.Fatal("the two instances are in the same step")
	}
	if !behind.Valid(ahead.Current()) {
		t.Error("the nonce of an instance 10 s ahead, just past a step boundary, is refused by the one behind")
	}
	if !ahead.Valid(behind.Current()) {
		t.Error("the nonce of the instance behind is refused by the one ahead")
	}
	far, _ := dpop.NewNonces(secret, step, clock(boundary.Add(step+5*time.Second)))
	if behind.Valid(far.Current()) {
		t.Error("a nonce two steps ahead is accepted")
	}
	stale, _ := dpop.NewNonces(secret, step, clock(boundary.Add(-step-5*time.Second)))
	if ahead.Valid(stale.Current()) {
		t.Error("a nonce two steps behind is accepted")
	}
}
