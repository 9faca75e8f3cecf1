package dpop_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-dev/latchkey/dpop"
)

var (
	t0     = time.Unix(1_800_000_000, 0)
	htu    = "https://auth.example.com/oauth/token"
	b64    = base64.RawURLEncoding
	ecKey  = mustEC()
	ecKey2 = mustEC()
)

func mustEC() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

// forge signs a proof with any header and claims: the header's jwk is the
// signer's public key unless the test sets another.
func forge(t *testing.T, key crypto.Signer, head, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(head)
	c, _ := json.Marshal(claims)
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	var sig []byte
	switch alg := head["alg"]; alg {
	case "none":
	case "HS256":
		m := hmac.New(sha256.New, []byte("0123456789abcdef0123456789abcdef"))
		m.Write([]byte(input))
		sig = m.Sum(nil)
	default:
		name, _ := alg.(string)
		if name == "RS256" || name == "ES256" || name == "EdDSA" || name == "PS256" {
			if _, ok := key.Public().(*ecdsa.PublicKey); ok && name != "ES256" {
				break // an algorithm that is not the key's: the signature does not matter
			}
			sig = rawSign(t, key, name, []byte(input))
		}
	}
	return input + "." + b64.EncodeToString(sig)
}

func rawSign(t *testing.T, key crypto.Signer, alg string, input []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(input)
	switch alg {
	case "ES256":
		r, s, err := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), sum[:])
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	case "EdDSA":
		return ed25519.Sign(key.(ed25519.PrivateKey), input)
	case "RS256":
		sig, err := rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case "PS256":
		sig, err := rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	t.Fatalf("alg %s", alg)
	return nil
}

func jwkOf(t *testing.T, pub crypto.PublicKey) map[string]any {
	t.Helper()
	b, err := (&jose.JSONWebKey{Key: pub}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func goodHead(t *testing.T) map[string]any {
	return map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": jwkOf(t, ecKey.Public())}
}

func goodClaims() map[string]any {
	return map[string]any{"jti": "j1", "htm": "POST", "htu": htu, "iat": t0.Unix()}
}

func with(m map[string]any, k string, v any) map[string]any {
	m = maps.Clone(m)
	if v == nil {
		delete(m, k)
	} else {
		m[k] = v
	}
	return m
}

func TestHostileProofs(t *testing.T) {
	v := &dpop.Verifier{Now: clock(t0)}
	privJWK := jwkOf(t, ecKey.Public())
	privJWK["d"] = b64.EncodeToString(ecKey.D.Bytes())
	hmacJWK := map[string]any{"kty": "oct", "k": b64.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))}
	swapped := forge(t, ecKey, goodHead(t), goodClaims())
	otherSig := forge(t, ecKey2, goodHead(t), goodClaims())
	parts := strings.Split(swapped, ".")
	withSig := parts[0] + "." + parts[1] + "." + strings.Split(otherSig, ".")[2]
	for _, tc := range []struct {
		name   string
		proof  string
		method string
		url    string
		token  string
		reason string
	}{
		{"empty", "", "", "", "", dpop.ReasonMissing},
		{"not a JWS", "abc.def", "", "", "", dpop.ReasonMalformed},
		{"newline in a part", strings.Replace(swapped, ".", ".\n", 1), "", "", "", dpop.ReasonMalformed},
		{"too large", strings.Repeat("a", dpop.MaxProofSize+1), "", "", "", dpop.ReasonMalformed},
		{"header not JSON", b64.EncodeToString([]byte("{")) + "." + parts[1] + "." + parts[2], "", "", "", dpop.ReasonMalformed},
		{"repeated header member", b64.EncodeToString([]byte(`{"typ":"dpop+jwt","alg":"ES256","alg":"none"}`)) + "." + parts[1] + "." + parts[2], "", "", "", dpop.ReasonMalformed},
		{"wrong typ", forge(t, ecKey, with(goodHead(t), "typ", "JWT"), goodClaims()), "", "", "", dpop.ReasonTyp},
		{"no typ", forge(t, ecKey, with(goodHead(t), "typ", nil), goodClaims()), "", "", "", dpop.ReasonTyp},
		{"alg none", forge(t, ecKey, with(goodHead(t), "alg", "none"), goodClaims()), "", "", "", dpop.ReasonAlg},
		{"alg HS256", forge(t, ecKey, with(with(goodHead(t), "alg", "HS256"), "jwk", hmacJWK), goodClaims()), "", "", "", dpop.ReasonAlg},
		{"unknown alg", forge(t, ecKey, with(goodHead(t), "alg", "ES999"), goodClaims()), "", "", "", dpop.ReasonAlg},
		{"alg not the key's", forge(t, ecKey, with(goodHead(t), "alg", "RS256"), goodClaims()), "", "", "", dpop.ReasonAlg},
		{"crit", forge(t, ecKey, with(goodHead(t), "crit", []string{"x"}), goodClaims()), "", "", "", dpop.ReasonMalformed},
		{"no jwk", forge(t, ecKey, with(goodHead(t), "jwk", nil), goodClaims()), "", "", "", dpop.ReasonJWK},
		{"jwk with d", forge(t, ecKey, with(goodHead(t), "jwk", privJWK), goodClaims()), "", "", "", dpop.ReasonJWK},
		{"jwk not an object", forge(t, ecKey, with(goodHead(t), "jwk", "x"), goodClaims()), "", "", "", dpop.ReasonJWK},
		{"signature by another key", withSig, "", "", "", dpop.ReasonSignature},
		{"jwk of another key", forge(t, ecKey2, goodHead(t), goodClaims()), "", "", "", dpop.ReasonSignature},
		{"claims not JSON", parts[0] + "." + b64.EncodeToString([]byte("[]")) + "." + parts[2], "", "", "", dpop.ReasonSignature},
		{"htm mismatch", forge(t, ecKey, goodHead(t), with(goodClaims(), "htm", "GET")), "", "", "", dpop.ReasonHTM},
		{"htm lower case", forge(t, ecKey, goodHead(t), with(goodClaims(), "htm", "post")), "", "", "", dpop.ReasonHTM},
		{"no htm", forge(t, ecKey, goodHead(t), with(goodClaims(), "htm", nil)), "", "", "", dpop.ReasonHTM},
		{"another host", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", "https://evil.example.com/oauth/token")), "", "", "", dpop.ReasonHTU},
		{"another path", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", "https://auth.example.com/auth/sign-in")), "", "", "", dpop.ReasonHTU},
		{"another scheme", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", "http://auth.example.com/oauth/token")), "", "", "", dpop.ReasonHTU},
		{"another port", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", "https://auth.example.com:8443/oauth/token")), "", "", "", dpop.ReasonHTU},
		{"htu with a query", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", htu+"?a=1")), "", "", "", dpop.ReasonHTU},
		{"htu with a fragment", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", htu+"#f")), "", "", "", dpop.ReasonHTU},
		{"relative htu", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", "/oauth/token")), "", "", "", dpop.ReasonHTU},
		{"no htu", forge(t, ecKey, goodHead(t), with(goodClaims(), "htu", nil)), "", "", "", dpop.ReasonHTU},
		{"iat expired", forge(t, ecKey, goodHead(t), with(goodClaims(), "iat", t0.Add(-66*time.Second).Unix())), "", "", "", dpop.ReasonIAT},
		{"iat in the future", forge(t, ecKey, goodHead(t), with(goodClaims(), "iat", t0.Add(6*time.Second).Unix())), "", "", "", dpop.ReasonIAT},
		{"iat a string", forge(t, ecKey, goodHead(t), with(goodClaims(), "iat", "1800000000")), "", "", "", dpop.ReasonIAT},
		{"no iat", forge(t, ecKey, goodHead(t), with(goodClaims(), "iat", nil)), "", "", "", dpop.ReasonIAT},
		{"no jti", forge(t, ecKey, goodHead(t), with(goodClaims(), "jti", nil)), "", "", "", dpop.ReasonJTI},
		{"empty jti", forge(t, ecKey, goodHead(t), with(goodClaims(), "jti", "")), "", "", "", dpop.ReasonJTI},
		{"jti too long", forge(t, ecKey, goodHead(t), with(goodClaims(), "jti", strings.Repeat("j", 257))), "", "", "", dpop.ReasonJTI},
		{"no ath with a token", forge(t, ecKey, goodHead(t), goodClaims()), "", "", "tok", dpop.ReasonATH},
		{"ath of another token", forge(t, ecKey, goodHead(t), with(goodClaims(), "ath", dpop.AccessTokenHash("other"))), "", "", "tok", dpop.ReasonATH},
		{"nonce not a string", forge(t, ecKey, goodHead(t), with(goodClaims(), "nonce", 42)), "", "", "", dpop.ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method, url := "POST", htu
			if tc.method != "" {
				method = tc.method
			}
			if tc.url != "" {
				url = tc.url
			}
			_, err := v.Check(tc.proof, method, url, tc.token)
			var e *dpop.Error
			if !errors.As(err, &e) || e.Reason != tc.reason {
				t.Fatalf("err = %v, want reason %s", err, tc.reason)
			}
			if dpop.Reason(err) != tc.reason {
				t.Fatalf("Reason = %q", dpop.Reason(err))
			}
		})
	}
	// The forged helper makes proofs the verifier accepts when nothing is
	// wrong, so each refusal above is for the one thing changed.
	if _, err := v.Check(forge(t, ecKey, goodHead(t), with(goodClaims(), "ath", dpop.AccessTokenHash("tok"))), "POST", htu, "tok"); err != nil {
		t.Fatalf("well-formed forged proof refused: %v", err)
	}
	// A proof for one route used on another (htu and htm of the other).
	p, _ := dpop.NewProof(ecKey, "POST", "https://auth.example.com/auth/sign-in", dpop.ProofOptions{Now: t0})
	if _, err := v.Check(p, "POST", htu, ""); dpop.Reason(err) != dpop.ReasonHTU {
		t.Fatalf("proof of another route: %v", err)
	}
	if _, err := v.Check(p, "GET", "https://auth.example.com/auth/sign-in", ""); dpop.Reason(err) != dpop.ReasonHTM {
		t.Fatalf("proof of another method: %v", err)
	}
}

func TestNewProofEveryKeyType(t *testing.T) {
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	v := &dpop.Verifier{Now: clock(t0)}
	for _, tc := range []struct {
		key crypto.Signer
		alg string
	}{{ecKey, "ES256"}, {edKey, "EdDSA"}, {rsaKey, "PS256"}} {
		p, err := dpop.NewProof(tc.key, "GET", "https://API.example.com:443/auth/me?x=1#f", dpop.ProofOptions{AccessToken: "tok", Now: t0, Nonce: "n"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Check(p, "GET", "https://api.example.com/auth/me", "tok")
		if err != nil {
			t.Fatalf("%s: %v", tc.alg, err)
		}
		want, _ := dpop.Thumbprint(tc.key.Public())
		if got.Alg != tc.alg || got.JKT != want || got.JTI == "" || !got.IssuedAt.Equal(t0) || !got.Until.Equal(t0.Add(65*time.Second)) {
			t.Fatalf("%s: %+v", tc.alg, got)
		}
		// The htu was sent without query and fragment.
		_, claims, _ := strings.Cut(p, ".")
		raw, _ := b64.DecodeString(strings.Split(claims, ".")[0])
		if strings.Contains(string(raw), "?") || strings.Contains(string(raw), "#") || !strings.Contains(string(raw), `"nonce":"n"`) {
			t.Fatalf("claims %s", raw)
		}
	}
	// RS256 is accepted on verify though NewProof uses PS256.
	rs := forge(t, rsaKey, map[string]any{"typ": "dpop+jwt", "alg": "RS256", "jwk": jwkOf(t, rsaKey.Public())}, goodClaims())
	if _, err := v.Check(rs, "POST", htu, ""); err != nil {
		t.Fatalf("RS256: %v", err)
	}
	// An allow-list without it refuses it.
	if _, err := (&dpop.Verifier{Now: clock(t0), Algs: []string{"ES256"}}).Check(rs, "POST", htu, ""); dpop.Reason(err) != dpop.ReasonAlg {
		t.Fatalf("RS256 outside Algs: %v", err)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := dpop.NewProof(small, "GET", htu, dpop.ProofOptions{}); err == nil {
		t.Fatal("1024-bit RSA key signed a proof")
	}
	smallProof := forge(t, small, map[string]any{"typ": "dpop+jwt", "alg": "RS256", "jwk": jwkOf(t, small.Public())}, goodClaims())
	if _, err := v.Check(smallProof, "POST", htu, ""); dpop.Reason(err) != dpop.ReasonJWK {
		t.Fatalf("1024-bit RSA proof: %v", err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := dpop.NewProof(p384, "GET", htu, dpop.ProofOptions{}); err == nil {
		t.Fatal("P-384 key signed a proof")
	}
}

// TestThumbprint checks RFC 7638 §3.1's example.
func TestThumbprint(t *testing.T) {
	const n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON([]byte(`{"kty":"RSA","n":"` + n + `","e":"AQAB"}`)); err != nil {
		t.Fatal(err)
	}
	got, err := dpop.Thumbprint(k.Key)
	if err != nil || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("Thumbprint = %q, %v", got, err)
	}
	if _, err := dpop.Thumbprint([]byte("secret")); err == nil {
		t.Fatal("thumbprint of a symmetric key")
	}
}

func TestVerifyReplay(t *testing.T) {
	now := t0
	cache := dpop.NewMemoryReplay(2, func() time.Time { return now })
	v := &dpop.Verifier{Now: func() time.Time { return now }, Replay: cache}
	p1, _ := dpop.NewProof(ecKey, "POST", htu, dpop.ProofOptions{Now: t0, JTI: "a"})
	if _, err := v.Verify(context.Background(), p1, "POST", htu, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), p1, "POST", htu, ""); !errors.Is(err, dpop.ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	// Check never consults the cache.
	if _, err := v.Check(p1, "POST", htu, ""); err != nil {
		t.Fatalf("Check: %v", err)
	}
	// The same jti by another key is another proof.
	p2, _ := dpop.NewProof(ecKey2, "POST", htu, dpop.ProofOptions{Now: t0, JTI: "a"})
	if _, err := v.Verify(context.Background(), p2, "POST", htu, ""); err != nil {
		t.Fatalf("same jti, other key: %v", err)
	}
	// Full: refused, not forgotten early.
	p3, _ := dpop.NewProof(ecKey, "POST", htu, dpop.ProofOptions{Now: t0, JTI: "b"})
	if _, err := v.Verify(context.Background(), p3, "POST", htu, ""); !errors.Is(err, dpop.ErrReplayCacheFull) {
		t.Fatalf("full cache: %v", err)
	}
	// Once the window has passed, entries are purged and the replayed proof
	// is refused for its iat instead.
	now = t0.Add(66 * time.Second)
	if _, err := v.Verify(context.Background(), p1, "POST", htu, ""); dpop.Reason(err) != dpop.ReasonIAT {
		t.Fatalf("late replay: %v", err)
	}
	p4, _ := dpop.NewProof(ecKey, "POST", htu, dpop.ProofOptions{Now: now, JTI: "c"})
	if _, err := v.Verify(context.Background(), p4, "POST", htu, ""); err != nil {
		t.Fatalf("after purge: %v", err)
	}
	if cache.Len() != 1 {
		t.Fatalf("Len = %d after purge", cache.Len())
	}
}

func TestNonces(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := t0
	n, err := dpop.NewNonces(secret, time.Minute, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	other, _ := dpop.NewNonces(secret, time.Minute, func() time.Time { return now })
	forger, _ := dpop.NewNonces([]byte("another secret, 32 bytes or more"), time.Minute, func() time.Time { return now })
	cur := n.Current()
	if cur != other.Current() || !other.Valid(cur) {
		t.Fatal("two instances with one secret disagree")
	}
	if n.Valid(forger.Current()) || n.Valid("") || n.Valid(strings.Repeat("A", len(cur))) {
		t.Fatal("forged nonce accepted")
	}
	v := &dpop.Verifier{Now: func() time.Time { return now }, Nonces: n}
	noNonce, _ := dpop.NewProof(ecKey, "POST", htu, dpop.ProofOptions{Now: now})
	if _, err := v.Check(noNonce, "POST", htu, ""); !errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("no nonce: %v", err)
	}
	forged, _ := dpop.NewProof(ecKey, "POST", htu, dpop.ProofOptions{Now: now, Nonce: forger.Current()})
	if _, err := v.Check(forged, "POST", htu, ""); !errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("forged nonce: %v", err)
	}
	now = t0.Add(time.Minute) // the next step: the previous nonce still holds
	ok, _ := dpop.NewProof(ecKey, "POST", htu, dpop.ProofOptions{Now: now, Nonce: cur})
	if _, err := v.Check(ok, "POST", htu, ""); err != nil {
		t.Fatalf("previous nonce: %v", err)
	}
	if n.Current() == cur {
		t.Fatal("nonce did not rotate")
	}
	now = t0.Add(2 * time.Minute) // two steps on: stale
	stale, _ := dpop.NewProof(ecKey, "POST", htu, dpop.ProofOptions{Now: now, Nonce: cur})
	if _, err := v.Check(stale, "POST", htu, ""); !errors.Is(err, dpop.ErrUseNonce) || errors.Is(err, dpop.ErrReplay) {
		t.Fatalf("stale nonce: %v", err)
	}
	if _, err := dpop.NewNonces([]byte("short"), 0, nil); err == nil {
		t.Fatal("short secret accepted")
	}
}

func TestNormalizeHTU(t *testing.T) {
	for in, want := range map[string]string{
		"HTTPS://Auth.Example.COM:443/a/b?q=1#f": "https://auth.example.com/a/b",
		"http://h:80":                            "http://h/",
		"http://h:8080/x":                        "http://h:8080/x",
		"https://h/a/./b/../c":                   "https://h/a/c",
		"https://h/%7euser/%2f":                  "https://h/~user/%2F",
		"https://[::1]:443/x":                    "https://[::1]/x",
	} {
		got, err := dpop.NormalizeHTU(in)
		if err != nil || got != want {
			t.Errorf("NormalizeHTU(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"/x", "ftp://h/x", "https://user@h/x", "https:///x", "::"} {
		if _, err := dpop.NormalizeHTU(bad); err == nil {
			t.Errorf("NormalizeHTU(%q) accepted", bad)
		}
	}
}

func TestHTU(t *testing.T) {
	r := httptest.NewRequest("GET", "http://internal:8080/auth/me?x=1", nil)
	if got := dpop.HTU(r, ""); got != "http://internal:8080/auth/me" {
		t.Fatalf("HTU = %q", got)
	}
	if got := dpop.HTU(r, "https://example.com/prefix/"); got != "https://example.com/prefix/auth/me" {
		t.Fatalf("HTU with external = %q", got)
	}
}

func TestFromHeader(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	if p, err := dpop.FromHeader(r.Header); p != "" || err != nil {
		t.Fatalf("none: %q %v", p, err)
	}
	r.Header.Add("DPoP", "a")
	if p, err := dpop.FromHeader(r.Header); p != "a" || err != nil {
		t.Fatalf("one: %q %v", p, err)
	}
	r.Header.Add("Dpop", "b")
	if _, err := dpop.FromHeader(r.Header); dpop.Reason(err) != dpop.ReasonMultiple {
		t.Fatalf("two: %v", err)
	}
}

// FuzzCheck feeds arbitrary proofs to a Verifier: it must never panic, and
// every refusal is an *Error with a Reason.
func FuzzCheck(f *testing.F) {
	good, _ := dpop.NewProof(ecKey, "POST", htu, dpop.ProofOptions{Now: t0, AccessToken: "tok"})
	f.Add(good, "POST", htu, "tok")
	f.Add(good+"x", "GET", "https://auth.example.com/x?y", "")
	f.Add("e30.e30.e30", "POST", htu, "")
	f.Fuzz(func(t *testing.T, proof, method, url, token string) {
		v := &dpop.Verifier{Now: clock(t0)}
		p, err := v.Check(proof, method, url, token)
		if err == nil {
			if p.JKT == "" {
				t.Fatal("accepted proof without a thumbprint")
			}
			return
		}
		if dpop.Reason(err) == "" && !strings.HasPrefix(err.Error(), "dpop: request URL") {
			t.Fatalf("refusal without a reason: %v", err)
		}
	})
}

// A header remembered from one Verifier's check (headers are cached by
// their encoded form) is still judged by each Verifier's own algorithms,
// and a proof with that header is still checked in full: a bad signature
// under a known header is refused.
func TestCachedHeaderStillChecked(t *testing.T) {
	v := &dpop.Verifier{Now: clock(t0)}
	good := forge(t, ecKey, goodHead(t), goodClaims())
	if _, err := v.Check(good, "POST", htu, ""); err != nil {
		t.Fatal(err)
	}
	strict := &dpop.Verifier{Now: clock(t0), Algs: []string{dpop.EdDSA}}
	if _, err := strict.Check(forge(t, ecKey, goodHead(t), with(goodClaims(), "jti", "j2")), "POST", htu, ""); dpop.Reason(err) != dpop.ReasonAlg {
		t.Fatalf("an ES256 proof under a known header to an EdDSA-only verifier: %v, want reason alg", err)
	}
	other := forge(t, ecKey, goodHead(t), with(goodClaims(), "jti", "j3"))
	tampered := good[:strings.LastIndexByte(good, '.')] + other[strings.LastIndexByte(other, '.'):]
	if _, err := v.Check(tampered, "POST", htu, ""); dpop.Reason(err) != dpop.ReasonSignature {
		t.Fatalf("another proof's signature under a known header: %v, want reason signature", err)
	}
}
