package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-dev/latchkey/store"
)

// The differential targets of this file check verifyAccessJWS against the
// go-jose verifier it replaced (joseParse, kept here verbatim as the
// reference): whatever the new reader accepts, go-jose must accept with
// identical claims, Extra included. The new reader may refuse more; access.go
// lists exactly where.

// joseParse is the former parse: go-jose's ParseSignedCompact and Verify,
// then the claims decoded into payload and again into a map for the extras.
func joseParse(tok string, algs []jose.SignatureAlgorithm, keyFor func(kid string) (any, jose.SignatureAlgorithm, bool)) (*payload, map[string]any, string, error) {
	if tok == "" || len(tok) > MaxTokenBytes {
		return nil, nil, "", ErrMalformed
	}
	obj, err := jose.ParseSignedCompact(tok, algs)
	if err != nil {
		return nil, nil, peekType(tok), fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(obj.Signatures) != 1 {
		return nil, nil, "", ErrMalformed
	}
	h := obj.Signatures[0].Header
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	key, alg, ok := keyFor(h.KeyID)
	if !ok {
		return nil, nil, typ, fmt.Errorf("%w: unknown key id", ErrSignature)
	}
	if h.Algorithm != string(alg) {
		return nil, nil, typ, fmt.Errorf("%w: algorithm does not match the key", ErrSignature)
	}
	body, err := obj.Verify(key)
	if err != nil {
		return nil, nil, typ, ErrSignature
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, nil, typ, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	var extra map[string]any
	if p.Use == useAccess && len(body) > 0 {
		_ = json.Unmarshal(body, &extra)
		// The registered names grew by gen and client_id (the session
		// generation and RFC 9068's client_id) after go-jose was replaced.
		for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "gen", "client_id", "token_use"} {
			delete(extra, k)
		}
	}
	return &p, extra, typ, nil
}

// joseIssuerVerify is the former Issuer.VerifyAccess.
func joseIssuerVerify(i *Issuer, tok string) (AccessClaims, error) {
	ks := i.keys.Load()
	p, extra, typ, err := joseParse(tok, ks.algs, func(kid string) (any, jose.SignatureAlgorithm, bool) {
		k, ok := ks.verify[kid]
		return k.public, k.alg, ok
	})
	if err != nil {
		if typ == typRefresh {
			return AccessClaims{}, ErrWrongKind
		}
		return AccessClaims{}, err
	}
	return checkAccess(p, extra, typ, i.iss, i.aud, i.leeway, i.now())
}

// joseVerifierVerify is the former Verifier.VerifyAccess.
func joseVerifierVerify(v *Verifier, tok string) (AccessClaims, error) {
	var lookupErr error
	algs := []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256}
	p, extra, typ, err := joseParse(tok, algs, func(kid string) (any, jose.SignatureAlgorithm, bool) {
		if kid == "" {
			return nil, "", false
		}
		k, err := v.Key(context.Background(), kid)
		if err != nil {
			lookupErr = err
			return nil, "", false
		}
		return k.Key, jose.SignatureAlgorithm(k.Algorithm), true
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
	return checkAccess(p, extra, typ, v.Issuer, v.Audience, v.Leeway, v.Now())
}

// diffKeyDER is a P-256 private key (PKCS#8) used only by these tests (the
// same as fuzz_test.go's).
const diffKeyDER = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgsnh2IxmIuhN2xjGUrFPIcUrxagHDqCserHs0SnAmv8mhRANCAAQ0n3S1DpyOT7CnEATo4jXbSGXk5hpJL/whhXBM/hGbwVfIOBEX582rxpoRL4+fQdjhDMmlFoACiHgUZfUJtSTI"

var diffNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type diffEnv struct {
	iss     *Issuer
	ver     *Verifier
	signers map[string]*jwsSigner // by alg, typ at+jwt, each with its kid
	keys    map[string]any        // private keys by alg
}

var (
	diffOnce sync.Once
	diffE    *diffEnv
)

// diffSetup returns an issuer holding one key of every algorithm (so all four
// are allowed), a Verifier over its public keys, and a signer per key.
func diffSetup(t testing.TB) *diffEnv {
	diffOnce.Do(func() {
		e := &diffEnv{signers: map[string]*jwsSigner{}, keys: map[string]any{}}
		der, _ := base64.StdEncoding.DecodeString(diffKeyDER)
		edPriv := ed25519.NewKeyFromSeed([]byte(strings.Repeat("e", 32)))
		edDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
		rsaKey, err := GenerateKey(RS256, diffNow)
		if err != nil {
			panic(err)
		}
		keys := []store.SigningKey{
			{KID: "k-es", Algorithm: ES256, Private: der, CreatedAt: diffNow.Add(-time.Hour)},
			{KID: "k-ed", Algorithm: EdDSA, Private: edDER, CreatedAt: diffNow.Add(-2 * time.Hour)},
			{KID: "k-rs", Algorithm: RS256, Private: rsaKey.Private, CreatedAt: diffNow.Add(-3 * time.Hour)},
			{KID: "k-hs", Algorithm: HS256, Private: []byte(strings.Repeat("s", 32)), CreatedAt: diffNow.Add(-4 * time.Hour)},
		}
		e.iss, err = NewIssuer(Options{Issuer: "http://localhost:8080", Audience: "latchkey", RefreshSecret: []byte(strings.Repeat("r", 32)),
			Leeway: 5 * time.Second, PublishRetiredFor: time.Hour, Now: func() time.Time { return diffNow }})
		if err != nil {
			panic(err)
		}
		if err := e.iss.SetKeys(keys); err != nil {
			panic(err)
		}
		for _, k := range keys {
			pk, err := parseKey(k)
			if err != nil {
				panic(err)
			}
			if e.signers[k.Algorithm], err = newJWSSigner(k.Algorithm, k.KID, typAccess, pk.private); err != nil {
				panic(err)
			}
			e.keys[k.Algorithm] = pk.private
		}
		pub := e.iss.PublicKeys()
		e.ver = &Verifier{Issuer: "http://localhost:8080", Audience: "latchkey", Leeway: 5 * time.Second,
			Now: func() time.Time { return diffNow },
			Key: func(_ context.Context, kid string) (PublicKey, error) {
				if k, ok := pub[kid]; ok {
					return k, nil
				}
				return PublicKey{}, errors.New("unknown key id")
			}}
		diffE = e
	})
	return diffE
}

// compareAccess fails when the new verifiers accept what go-jose refuses, or
// accept with other claims.
func compareAccess(t *testing.T, e *diffEnv, tok string) {
	t.Helper()
	for _, v := range []struct {
		name     string
		new, old func(string) (AccessClaims, error)
	}{
		{"Issuer", e.iss.VerifyAccess, func(s string) (AccessClaims, error) { return joseIssuerVerify(e.iss, s) }},
		{"Verifier", func(s string) (AccessClaims, error) { return e.ver.VerifyAccess(context.Background(), s) },
			func(s string) (AccessClaims, error) { return joseVerifierVerify(e.ver, s) }},
	} {
		got, err := v.new(tok)
		if err != nil {
			if !isTokenError(err) {
				t.Fatalf("%s: error %v wraps none of the token errors", v.name, err)
			}
			if errors.Is(err, ErrExpired) {
				want, oldErr := v.old(tok)
				if !errors.Is(oldErr, ErrExpired) || !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: expired with %+v; go-jose: %+v, %v", v.name, got, want, oldErr)
				}
			}
			continue
		}
		want, oldErr := v.old(tok)
		if oldErr != nil {
			t.Fatalf("%s accepted %q, go-jose refused it: %v", v.name, tok, oldErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: claims differ from go-jose's:\n got %#v\nwant %#v", v.name, got, want)
		}
	}
}

func isTokenError(err error) bool {
	for _, e := range []error{ErrMalformed, ErrSignature, ErrWrongKind, ErrClaims, ErrExpired} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// diffPayloads are claims the seeds sign: valid ones, with extras, and the
// JSON forms go-jose's path decodes (aud as a list, case-folded names,
// repeated members, floats).
func diffPayloads() []string {
	exp, iat := diffNow.Add(time.Minute).Unix(), diffNow.Unix()
	base := fmt.Sprintf(`"iss":"http://localhost:8080","sub":"u1","exp":%d,"iat":%d,"jti":"j","sid":"s1","token_use":"access"`, exp, iat)
	return []string{
		`{` + base + `,"aud":"latchkey"}`,
		`{` + base + `,"aud":["other","latchkey"],"role":"admin","n":1.5,"o":{"a":[1,"}"]}}`,
		`{` + base + `,"aud":"latchkey","gen":3,"client_id":"c","\u0072ole":"y"}`,
		`{` + base + `,"aud":"latchkey","sub":"u2","SUB":"u3"}`,
		`{` + base + `,"aud":"latchkey","Sid":"s9","gen":3,"client_id":"c"}`,
		`{` + base + `,"aud":"latchkey","su\u0062":"x","\u0072ole":"y"}`,
		`{` + base + `,"aud":"latchkey","ſid":"s9"}`,
		`{` + base + `,"aud":"latchkey","nbf":1.5e9}`,
		fmt.Sprintf(`{"iss":"http://localhost:8080","sub":"u1","aud":"latchkey","exp":%d,"iat":%d,"jti":"j","sid":"s1","token_use":"access"}`,
			diffNow.Add(-time.Minute).Unix(), iat),
		`{"token_use":"refresh","gen":1}`,
		`null`,
		`{` + base + `,"aud":"latchkey"} `,
		`not json`,
	}
}

func diffSign(key any, alg string, header, body []byte) string {
	b64 := base64.RawURLEncoding.EncodeToString
	s := &jwsSigner{head: b64(header)}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		s.key, s.sigLen = k, 64
	case ed25519.PrivateKey:
		s.key, s.sigLen = k, 64
	case *rsa.PrivateKey:
		s.key, s.sigLen = k, k.Size()
	case []byte:
		s.mac, s.sigLen = newHMACPool(k), 32
	}
	tok, err := s.sign(body)
	if err != nil {
		panic(err)
	}
	return tok
}

func diffMutations(tok string, kid string) []string {
	p := strings.Split(tok, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	out := []string{tok,
		b64([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+kid+`"}`)) + "." + p[1] + ".",
		b64([]byte(`{"alg":"HS256","typ":"at+jwt","kid":"`+kid+`"}`)) + "." + p[1] + "." + p[2],
		p[0] + "." + p[1] + "." + p[2][:len(p[2])-2] + "AA",
		p[0] + "." + b64([]byte(`{"sub":"admin","token_use":"access"}`)) + "." + p[2],
		tok[:len(tok)/2], tok + "." + p[2], "\xff" + tok, tok + "=", p[0] + "\n." + p[1] + "." + p[2],
	}
	return out
}

// FuzzVerifyAccessDifferential feeds arbitrary strings to both access-token
// verifiers (Issuer and Verifier) and to the go-jose code they replaced.
func FuzzVerifyAccessDifferential(f *testing.F) {
	e := diffSetup(f)
	for _, alg := range []string{ES256, EdDSA, RS256, HS256} {
		s := e.signers[alg]
		for _, body := range diffPayloads()[:2] {
			tok, err := s.sign([]byte(body))
			if err != nil {
				f.Fatal(err)
			}
			for _, m := range diffMutations(tok, "k-"+strings.ToLower(alg[:2])) {
				f.Add(m)
			}
		}
	}
	f.Fuzz(func(t *testing.T, tok string) { compareAccess(t, e, tok) })
}

// FuzzAccessClaimsDifferential signs arbitrary header and payload bytes with
// the real key of one algorithm, so both verifiers reach the claims behind
// the signature: JSON forms, extra claims, typ, kid and alg pinning.
func FuzzAccessClaimsDifferential(f *testing.F) {
	e := diffSetup(f)
	algs := []string{ES256, EdDSA, RS256, HS256}
	for i, alg := range algs {
		kid := "k-" + strings.ToLower(alg[:2])
		for _, body := range diffPayloads() {
			f.Add(uint8(i), []byte(`{"alg":"`+alg+`","kid":"`+kid+`","typ":"at+jwt"}`), []byte(body))
		}
		f.Add(uint8(i), []byte(`{"alg":"`+alg+`","kid":"`+kid+`","typ":"rt+jwt"}`), []byte(diffPayloads()[0]))
		f.Add(uint8(i), []byte(`{"typ":"at+jwt","kid":"`+kid+`","alg":"`+alg+`"}`), []byte(diffPayloads()[1]))
		f.Add(uint8(i), []byte(`{"alg":"`+alg+`","kid":"`+kid+`","typ":"at+jwt","crit":["exp"]}`), []byte(diffPayloads()[0]))
		f.Add(uint8(i), []byte(`{"alg":"`+alg+`","kid":"k-es","typ":"at+jwt"}`), []byte(diffPayloads()[0]))
		f.Add(uint8(i), []byte(`{"alg":"`+alg+`","typ":"at+jwt"}`), []byte(diffPayloads()[0]))
	}
	f.Fuzz(func(t *testing.T, which uint8, header, body []byte) {
		alg := algs[int(which)%len(algs)]
		compareAccess(t, e, diffSign(e.keys[alg], alg, header, body))
	})
}

// The seeds must reach acceptance, or the differential would be vacuous;
// the next four, which go-jose accepts with a registered claim replaced by
// a duplicate or a folded spelling (claimnames.go), are refused.
func TestDifferentialSeedsVerify(t *testing.T) {
	e := diffSetup(t)
	for _, alg := range []string{ES256, EdDSA, RS256, HS256} {
		for i, body := range diffPayloads()[3:7] {
			tok, err := e.signers[alg].sign([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.iss.VerifyAccess(tok); !errors.Is(err, ErrClaims) {
				t.Fatalf("%s payload %d: %v, want ErrClaims", alg, i+3, err)
			}
			if _, err := joseIssuerVerify(e.iss, tok); err != nil {
				t.Fatalf("%s payload %d: go-jose refuses it too (%v): the seed tests nothing", alg, i+3, err)
			}
		}
		for i, body := range diffPayloads()[:3] {
			tok, err := e.signers[alg].sign([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			c, err := e.iss.VerifyAccess(tok)
			if err != nil {
				t.Fatalf("%s payload %d: %v", alg, i, err)
			}
			if _, err := e.ver.VerifyAccess(context.Background(), tok); (err == nil) == (alg == HS256) {
				t.Fatalf("Verifier, %s payload %d: %v", alg, i, err)
			}
			old, err := joseIssuerVerify(e.iss, tok)
			if err != nil || !reflect.DeepEqual(c, old) {
				t.Fatalf("%s payload %d: go-jose gives %+v %v, new %+v", alg, i, old, err, c)
			}
			if i == 1 && (c.Extra["role"] != "admin" || len(c.Extra) != 3) {
				t.Fatalf("extra claims %v", c.Extra)
			}
		}
	}
}

// TestPublicKeyIsNeverAnHMACSecret: only an HS256 key of the issuer has an
// HMAC state; every other key, and every key a Verifier looks up, verifies
// only with its own algorithm, so an "HS256" header cannot make a public key
// into a MAC secret even past the algorithm checks.
func TestPublicKeyIsNeverAnHMACSecret(t *testing.T) {
	e := diffSetup(t)
	ks := e.iss.keys.Load()
	input := []byte("x.y")
	for kid, k := range ks.access {
		if (k.mac != nil) != (k.alg == HS256) || (k.alg == HS256) != (k.pub == nil) {
			t.Fatalf("key %s (%s): mac %v, pub %T", kid, k.alg, k.mac != nil, k.pub)
		}
		if k.alg == HS256 {
			continue
		}
		hs := *k
		hs.alg = HS256 // as if the header's algorithm had been taken
		if hs.verifySignature(input, make([]byte, 32), make([]byte, 0, 32)) {
			t.Fatalf("key %s verified an HS256 MAC", kid)
		}
	}
	for kid, pk := range e.iss.PublicKeys() {
		if k := publicAccessKey(pk); k.mac != nil {
			t.Fatalf("Verifier key %s has an HMAC state", kid)
		}
	}
}

// BenchmarkVerifyAccessVsGoJose runs the new verifier and the go-jose one it
// replaced side by side on the same tokens (the machine's noise hits both).
func BenchmarkVerifyAccessVsGoJose(b *testing.B) {
	e := diffSetup(b)
	for _, alg := range []string{ES256, EdDSA} {
		tok, err := e.signers[alg].sign([]byte(diffPayloads()[0]))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(alg+"/new", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.iss.VerifyAccess(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/go-jose", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := joseIssuerVerify(e.iss, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
