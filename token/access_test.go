package token_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

// multiIssuer returns an issuer holding an ES256, an EdDSA, an RS256 and
// (with hs) an HS256 key, and their private keys by algorithm.
func multiIssuer(t *testing.T, hs bool) (*token.Issuer, map[string]store.SigningKey, map[string]any) {
	t.Helper()
	iss, _, es := newIssuer(t, token.ES256)
	keys := map[string]store.SigningKey{token.ES256: es}
	priv := map[string]any{}
	for i, alg := range []string{token.EdDSA, token.RS256} {
		k, err := token.GenerateKey(alg, t0.Add(-time.Duration(i+1)*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		keys[alg] = k
	}
	if hs {
		k := token.SecretKey(hsAccessKey)
		k.CreatedAt = t0.Add(-3 * time.Hour)
		keys[token.HS256] = k
	}
	var list []store.SigningKey
	for alg, k := range keys {
		list = append(list, k)
		if alg == token.HS256 {
			priv[alg] = k.Private
			continue
		}
		raw, err := x509.ParsePKCS8PrivateKey(k.Private)
		if err != nil {
			t.Fatal(err)
		}
		priv[alg] = raw
	}
	if err := iss.SetKeys(list); err != nil {
		t.Fatal(err)
	}
	return iss, keys, priv
}

// rawSign signs header and payload bytes as given; sig transforms the raw
// signature (nil: unchanged).
func rawSign(t *testing.T, alg string, key any, header, payload string, sig func([]byte) []byte) string {
	t.Helper()
	input := b64([]byte(header)) + "." + b64([]byte(payload))
	digest := sha256.Sum256([]byte(input))
	var s []byte
	var err error
	switch alg {
	case token.ES256:
		r, ss, e := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), digest[:])
		err = e
		s = make([]byte, 64)
		r.FillBytes(s[:32])
		ss.FillBytes(s[32:])
	case "ES256-ASN1":
		s, err = ecdsa.SignASN1(rand.Reader, key.(*ecdsa.PrivateKey), digest[:])
	case token.EdDSA:
		s = ed25519.Sign(key.(ed25519.PrivateKey), []byte(input))
	case token.RS256:
		s, err = rsa.SignPKCS1v15(nil, key.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	case token.HS256:
		m := hmac.New(sha256.New, key.([]byte))
		m.Write([]byte(input))
		s = m.Sum(nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if sig != nil {
		s = sig(s)
	}
	return input + "." + b64(s)
}

func goodClaims() string {
	return fmt.Sprintf(`{"iss":"http://localhost:8080","sub":"u1","aud":"latchkey","exp":%d,"iat":%d,"jti":"j","sid":"s1","token_use":"access"}`,
		t0.Add(time.Minute).Unix(), t0.Unix())
}

func hdr(alg, kid string) string {
	return `{"alg":"` + alg + `","kid":"` + kid + `","typ":"at+jwt"}`
}

// TestAccessStrictParsing: the cases the hand-written access-token reader
// must refuse (and the few it must accept), with the error kinds go-jose gave.
func TestAccessStrictParsing(t *testing.T) {
	iss, keys, priv := multiIssuer(t, true)
	es, ed, rs, hs := keys[token.ES256].KID, keys[token.EdDSA].KID, keys[token.RS256].KID, keys[token.HS256].KID
	esPub, _ := x509.MarshalPKIXPublicKey(&priv[token.ES256].(*ecdsa.PrivateKey).PublicKey)
	claims := goodClaims()
	good := rawSign(t, token.ES256, priv[token.ES256], hdr(token.ES256, es), claims, nil)
	p := strings.Split(good, ".")
	trim := func(n int) func([]byte) []byte { return func(s []byte) []byte { return s[:len(s)-n] } }
	grow := func(s []byte) []byte { return append(s, 0) }
	sign := func(alg, header, payload string) string { return rawSign(t, alg, priv[alg], header, payload, nil) }
	cases := []struct {
		name string
		tok  string
		want error // nil: accepted
	}{
		{"control ES256", good, nil},
		{"control EdDSA", sign(token.EdDSA, hdr(token.EdDSA, ed), claims), nil},
		{"control RS256", sign(token.RS256, hdr(token.RS256, rs), claims), nil},
		{"control HS256", sign(token.HS256, hdr(token.HS256, hs), claims), nil},
		{"members in another order", sign(token.ES256, `{"typ":"at+jwt","kid":"`+es+`","alg":"ES256"}`, claims), nil},
		{"no typ", sign(token.ES256, `{"alg":"ES256","kid":"`+es+`"}`, claims), token.ErrWrongKind},
		{"missing kid", sign(token.ES256, `{"alg":"ES256","typ":"at+jwt"}`, claims), token.ErrSignature},
		{"empty kid", sign(token.ES256, hdr(token.ES256, ""), claims), token.ErrSignature},
		{"unknown kid", sign(token.ES256, hdr(token.ES256, "nope"), claims), token.ErrSignature},
		{"kid of the EdDSA key on an ES256 token", sign(token.ES256, hdr(token.ES256, ed), claims), token.ErrSignature},
		{"kid of the ES256 key on an EdDSA token", sign(token.EdDSA, hdr(token.EdDSA, es), claims), token.ErrSignature},
		{"kid of the HS256 key on an RS256 token", sign(token.RS256, hdr(token.RS256, hs), claims), token.ErrSignature},
		{"HS256 keyed with the ES256 public key", rawSign(t, token.HS256, esPub, hdr(token.HS256, es), claims, nil), token.ErrSignature},
		{"alg none", b64([]byte(`{"alg":"none","kid":"`+es+`","typ":"at+jwt"}`)) + "." + p[1] + ".", token.ErrMalformed},
		{"alg es256", sign(token.ES256, hdr("es256", es), claims), token.ErrMalformed},
		{"alg Es256", sign(token.ES256, hdr("Es256", es), claims), token.ErrMalformed},
		{"alg EDDSA", sign(token.EdDSA, hdr("EDDSA", ed), claims), token.ErrMalformed},
		{"alg ES384", sign(token.ES256, hdr("ES384", es), claims), token.ErrMalformed},
		{"ES256 signature of 63 bytes", rawSign(t, token.ES256, priv[token.ES256], hdr(token.ES256, es), claims, trim(1)), token.ErrSignature},
		{"ES256 signature of 65 bytes", rawSign(t, token.ES256, priv[token.ES256], hdr(token.ES256, es), claims, grow), token.ErrSignature},
		{"ES256 signature in ASN.1", rawSign(t, "ES256-ASN1", priv[token.ES256], hdr(token.ES256, es), claims, nil), token.ErrSignature},
		{"ES256 signature r = 0", rawSign(t, token.ES256, priv[token.ES256], hdr(token.ES256, es), claims, func(s []byte) []byte { clear(s[:32]); return s }), token.ErrSignature},
		{"ES256 signature s = N", rawSign(t, token.ES256, priv[token.ES256], hdr(token.ES256, es), claims, func(s []byte) []byte {
			copy(s[32:], mustHex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")) // P-256 order
			return s
		}), token.ErrSignature},
		{"EdDSA signature of 63 bytes", rawSign(t, token.EdDSA, priv[token.EdDSA], hdr(token.EdDSA, ed), claims, trim(1)), token.ErrSignature},
		{"EdDSA signature of 65 bytes", rawSign(t, token.EdDSA, priv[token.EdDSA], hdr(token.EdDSA, ed), claims, grow), token.ErrSignature},
		{"RS256 signature one byte short", rawSign(t, token.RS256, priv[token.RS256], hdr(token.RS256, rs), claims, trim(1)), token.ErrSignature},
		{"RS256 signature one byte long", rawSign(t, token.RS256, priv[token.RS256], hdr(token.RS256, rs), claims, func(s []byte) []byte { return append([]byte{0}, s...) }), token.ErrSignature},
		{"HS256 MAC of 31 bytes", rawSign(t, token.HS256, priv[token.HS256], hdr(token.HS256, hs), claims, trim(1)), token.ErrSignature},
		{"header with crit", sign(token.ES256, `{"alg":"ES256","kid":"`+es+`","typ":"at+jwt","crit":["exp"],"exp":1}`, claims), token.ErrMalformed},
		{"header with b64", sign(token.ES256, `{"alg":"ES256","kid":"`+es+`","typ":"at+jwt","b64":true}`, claims), token.ErrMalformed},
		{"header with an unknown member", sign(token.ES256, `{"alg":"ES256","kid":"`+es+`","typ":"at+jwt","x5u":"https://evil"}`, claims), token.ErrMalformed},
		{"header with a jwk", sign(token.ES256, `{"alg":"ES256","kid":"`+es+`","typ":"at+jwt","jwk":{}}`, claims), token.ErrMalformed},
		{"header with alg twice", sign(token.ES256, `{"alg":"HS256","kid":"`+es+`","typ":"at+jwt","alg":"ES256"}`, claims), token.ErrMalformed},
		{"header with kid twice", sign(token.ES256, `{"alg":"ES256","kid":"x","typ":"at+jwt","kid":"`+es+`"}`, claims), token.ErrMalformed},
		{"header with typ twice", sign(token.ES256, `{"alg":"ES256","kid":"`+es+`","typ":"rt+jwt","typ":"at+jwt"}`, claims), token.ErrMalformed},
		{"header with ALG", sign(token.ES256, `{"ALG":"ES256","kid":"`+es+`","typ":"at+jwt"}`, claims), token.ErrMalformed},
		{"header with kid null", sign(token.ES256, `{"alg":"ES256","kid":null,"typ":"at+jwt"}`, claims), token.ErrMalformed},
		{"header with data after it", sign(token.ES256, hdr(token.ES256, es)+`{}`, claims), token.ErrMalformed},
		{"header not an object", sign(token.ES256, `["alg"]`, claims), token.ErrMalformed},
		{"padding on the header", p[0] + "=." + p[1] + "." + p[2], token.ErrMalformed},
		{"padding on the payload", p[0] + "." + p[1] + "=." + p[2], token.ErrMalformed},
		{"padding on the signature", p[0] + "." + p[1] + "." + p[2] + "=", token.ErrMalformed},
		{"newline in the header", p[0][:4] + "\n" + p[0][4:] + "." + p[1] + "." + p[2], token.ErrMalformed},
		{"space in the payload", p[0] + "." + p[1][:4] + " " + p[1][4:] + "." + p[2], token.ErrMalformed},
		{"CR in the signature", p[0] + "." + p[1] + "." + p[2][:4] + "\r" + p[2][4:], token.ErrMalformed},
		{"+ in the payload", p[0] + "." + strings.ReplaceAll(p[1], "-", "+") + "X+." + p[2], token.ErrMalformed},
		{"/ in the signature", p[0] + "." + p[1] + "." + p[2][:len(p[2])-1] + "/", token.ErrMalformed},
		{"4 parts", good + "." + p[2], token.ErrMalformed},
		{"2 parts", p[0] + "." + p[1], token.ErrMalformed},
		{"empty signature", p[0] + "." + p[1] + ".", token.ErrSignature},
		{"non-canonical last character of the signature", p[0] + "." + p[1] + "." + p[2][:len(p[2])-1] + string(p[2][len(p[2])-1]^1), token.ErrMalformed},
		{"payload not JSON after a valid signature", sign(token.ES256, hdr(token.ES256, es), `not json`), token.ErrMalformed},
		{"payload a JSON array", sign(token.ES256, hdr(token.ES256, es), `["access"]`), token.ErrMalformed},
		{"exp a float", sign(token.ES256, hdr(token.ES256, es), strings.Replace(claims, `"exp":`, `"exp":1.5e9,"x":`, 1)), token.ErrMalformed},
		{"exp a string", sign(token.ES256, hdr(token.ES256, es), strings.Replace(claims, `"exp":`, `"exp":"1","x":`, 1)), token.ErrMalformed},
		{"aud as an array, ours second", sign(token.ES256, hdr(token.ES256, es), strings.Replace(claims, `"aud":"latchkey"`, `"aud":["x","latchkey"]`, 1)), nil},
		{"aud as an array without ours", sign(token.ES256, hdr(token.ES256, es), strings.Replace(claims, `"aud":"latchkey"`, `"aud":["x"]`, 1)), token.ErrClaims},
		{"refresh token", refresh(t, iss, t0.Add(time.Hour)), token.ErrWrongKind},
		{"refresh header, ES256-signed", sign(token.ES256, `{"alg":"ES256","kid":"`+es+`","typ":"rt+jwt"}`, claims), token.ErrWrongKind},
		{"refresh token with an unknown member", rawSign(t, token.HS256, refreshSecret, `{"alg":"HS256","typ":"rt+jwt","x":1}`, claims, nil), token.ErrWrongKind},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := iss.VerifyAccess(tc.tok)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func mustHex(s string) []byte {
	b := make([]byte, len(s)/2)
	if _, err := fmt.Sscanf(s, "%x", &b); err != nil {
		panic(err)
	}
	return b
}

// TestAccessExtraClaimsNeverOverride: registered claims win over extra claims
// of the same name, and Extra holds only the rest (nil when there is none).
func TestAccessExtraClaimsNeverOverride(t *testing.T) {
	iss, _, _ := newIssuer(t, token.ES256)
	extra := map[string]any{"role": "admin", "n": 2.0}
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "sid", "token_use"} {
		extra[k] = "attacker" // every registered claim MintAccess writes
	}
	tok, _, err := iss.MintAccess(token.AccessClaims{Subject: "u1", SessionID: "s1", ExpiresAt: t0.Add(time.Minute), Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	c, err := iss.VerifyAccess(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "u1" || c.SessionID != "s1" || c.Issuer != "http://localhost:8080" || c.ID == "attacker" ||
		len(c.Audience) != 1 || c.Audience[0] != "latchkey" || len(c.Extra) != 2 || c.Extra["role"] != "admin" || c.Extra["n"] != 2.0 {
		t.Fatalf("claims = %+v", c)
	}
	c, err = iss.VerifyAccess(access(t, iss, t0.Add(time.Minute)))
	if err != nil || c.Extra != nil {
		t.Fatalf("no extra claims: Extra = %#v, err %v", c.Extra, err)
	}
}

// TestVerifierRefusesHS256: a Verifier never verifies with a shared secret,
// whatever its Key func returns, and reports a failed lookup.
func TestVerifierRefusesHS256(t *testing.T) {
	iss, keys, priv := multiIssuer(t, true)
	hs, es := keys[token.HS256].KID, keys[token.ES256].KID
	pub := iss.PublicKeys()
	v := &token.Verifier{Issuer: "http://localhost:8080", Audience: "latchkey", Now: func() time.Time { return t0 },
		Key: func(_ context.Context, kid string) (token.PublicKey, error) {
			switch kid {
			case "hs", hs:
				return token.PublicKey{Key: hsAccessKey, Algorithm: token.HS256}, nil
			case "hs-as-es":
				return token.PublicKey{Key: hsAccessKey, Algorithm: token.ES256}, nil
			}
			if k, ok := pub[kid]; ok {
				return k, nil
			}
			return token.PublicKey{}, errors.New("no such key in the JWKS")
		}}
	claims := goodClaims()
	hsTok := rawSign(t, token.HS256, hsAccessKey, hdr(token.HS256, hs), claims, nil)
	if _, err := iss.VerifyAccess(hsTok); err != nil {
		t.Fatalf("control: the issuer accepts its HS256 token: %v", err)
	}
	for _, tc := range []struct {
		name, tok string
		want      error
	}{
		{"control ES256", rawSign(t, token.ES256, priv[token.ES256], hdr(token.ES256, es), claims, nil), nil},
		{"HS256 token", hsTok, token.ErrMalformed},
		{"HS256 token, kid hs", rawSign(t, token.HS256, hsAccessKey, hdr(token.HS256, "hs"), claims, nil), token.ErrMalformed},
		{"ES256 header on a secret", rawSign(t, token.HS256, hsAccessKey, hdr(token.ES256, "hs-as-es"), claims, nil), token.ErrSignature},
		{"ES256 header, key says HS256", rawSign(t, token.HS256, hsAccessKey, hdr(token.ES256, "hs"), claims, nil), token.ErrSignature},
		{"missing kid", rawSign(t, token.ES256, priv[token.ES256], `{"alg":"ES256","typ":"at+jwt"}`, claims, nil), token.ErrSignature},
		{"refresh token", refresh(t, iss, t0.Add(time.Hour)), token.ErrWrongKind},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.VerifyAccess(context.Background(), tc.tok)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	_, err := v.VerifyAccess(context.Background(), rawSign(t, token.ES256, priv[token.ES256], hdr(token.ES256, "gone"), claims, nil))
	if !errors.Is(err, token.ErrSignature) || !strings.Contains(err.Error(), "no such key in the JWKS") {
		t.Fatalf("failed lookup: %v", err)
	}
}

func BenchmarkVerifyAccessEdDSA(b *testing.B) {
	iss, _, _ := newIssuer(b, token.EdDSA)
	tok := access(b, iss, t0.Add(time.Minute))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.VerifyAccess(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVerifierLookupErrors: a lookup that cannot get the key set is
// ErrKeysUnavailable, not a bad signature (a JWKS outage is not a forged
// token); any other failed lookup is ErrSignature; either way the lookup's
// own error stays reachable with errors.Is. An issuer's unknown kid is
// ErrUnknownKey, a kind of ErrSignature.
func TestVerifierLookupErrors(t *testing.T) {
	iss, keys, priv := multiIssuer(t, false)
	es := keys[token.ES256].KID
	tok := rawSign(t, token.ES256, priv[token.ES256], hdr(token.ES256, es), goodClaims(), nil)
	errDown := errors.New("dial tcp: connection refused")
	errApp := errors.New("the application's key service said no")
	for _, tc := range []struct {
		name       string
		lookup     error
		want, not  error
		wantCauses []error
	}{
		{"unavailable", fmt.Errorf("fetch JWKS: %w (%w)", token.ErrKeysUnavailable, errDown), token.ErrKeysUnavailable, token.ErrSignature, []error{errDown}},
		{"unknown key", fmt.Errorf("jwks: %w", token.ErrUnknownKey), token.ErrSignature, token.ErrKeysUnavailable, []error{token.ErrUnknownKey}},
		{"other", errApp, token.ErrSignature, token.ErrKeysUnavailable, []error{errApp}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &token.Verifier{Issuer: "http://localhost:8080", Audience: "latchkey", Now: func() time.Time { return t0 },
				Key: func(context.Context, string) (token.PublicKey, error) { return token.PublicKey{}, tc.lookup }}
			_, err := v.VerifyAccess(context.Background(), tok)
			if !errors.Is(err, tc.want) || errors.Is(err, tc.not) {
				t.Fatalf("got %v: want %v and not %v", err, tc.want, tc.not)
			}
			for _, c := range tc.wantCauses {
				if !errors.Is(err, c) {
					t.Fatalf("the lookup's error %q is not wrapped in %q", c, err)
				}
			}
		})
	}
	_, err := iss.VerifyAccess(rawSign(t, token.ES256, priv[token.ES256], hdr(token.ES256, "gone"), goodClaims(), nil))
	if !errors.Is(err, token.ErrUnknownKey) || !errors.Is(err, token.ErrSignature) {
		t.Fatalf("issuer, unknown kid: %v", err)
	}
}
