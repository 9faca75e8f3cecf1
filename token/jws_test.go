package token_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-dev/latchkey/token"
)

// The tests of this file check the hand-built JWS against go-jose in both
// directions (tokens minted before and after the change must keep working),
// and the strictness of the refresh-token parser.

var (
	refreshSecret = []byte(strings.Repeat("r", 32)) // newIssuer's refresh secret
	hsAccessKey   = []byte(strings.Repeat("s", 32)) // newIssuer's HS256 access key
	b64           = base64.RawURLEncoding.EncodeToString
)

// rawHeader decodes the first part of tok into its JSON members.
func rawHeader(t *testing.T, tok string) map[string]json.RawMessage {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestMintedAccessVerifiesWithGoJose(t *testing.T) {
	for _, alg := range []string{token.ES256, token.EdDSA, token.RS256, token.HS256} {
		t.Run(alg, func(t *testing.T) {
			iss, _, k := newIssuer(t, alg)
			tok, c, err := iss.MintAccess(token.AccessClaims{Subject: "u1", SessionID: "s1", ExpiresAt: t0.Add(time.Minute),
				Extra: map[string]any{"role": "admin", "token_use": "refresh"}})
			if err != nil {
				t.Fatal(err)
			}
			var key any = hsAccessKey
			if alg != token.HS256 {
				key = iss.PublicKeys()[k.KID].Key
			}

			// go-jose, as every other verifier of our access tokens.
			obj, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatalf("go-jose parse: %v", err)
			}
			body, err := obj.Verify(key)
			if err != nil {
				t.Fatalf("go-jose verify: %v", err)
			}
			h := obj.Signatures[0].Header
			if h.Algorithm != alg || h.KeyID != k.KID || h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
				t.Fatalf("go-jose header = %+v", h)
			}
			var claims map[string]any
			if err := json.Unmarshal(body, &claims); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"iss": "http://localhost:8080", "sub": "u1", "aud": "latchkey", "exp": float64(t0.Add(time.Minute).Unix()),
				"iat": float64(t0.Unix()), "jti": c.ID, "sid": "s1", "token_use": "access", "role": "admin"}
			if !reflect.DeepEqual(claims, want) {
				t.Fatalf("claims = %v, want %v", claims, want)
			}

			// Exactly the members go-jose wrote: alg, kid, typ (kid for HS256 too).
			hdr := rawHeader(t, tok)
			if got := slices.Sorted(mapsKeys(hdr)); !slices.Equal(got, []string{"alg", "kid", "typ"}) {
				t.Fatalf("header members = %v", got)
			}

			// And the signature by the JWA rules directly (RFC 7518 §3).
			parts := strings.Split(tok, ".")
			input := []byte(parts[0] + "." + parts[1])
			sig, err := base64.RawURLEncoding.DecodeString(parts[2])
			if err != nil {
				t.Fatal(err)
			}
			digest := sha256.Sum256(input)
			ok := false
			switch pub := key.(type) {
			case *ecdsa.PublicKey:
				// R || S, 32 bytes each, not ASN.1.
				if len(sig) != 64 {
					t.Fatalf("ES256 signature of %d bytes, want 64", len(sig))
				}
				r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
				ok = ecdsa.Verify(pub, digest[:], r, s)
			case ed25519.PublicKey:
				ok = ed25519.Verify(pub, input, sig)
			case *rsa.PublicKey:
				ok = len(sig) == pub.Size() && rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil
			case []byte:
				m := hmac.New(sha256.New, pub)
				m.Write(input)
				ok = hmac.Equal(sig, m.Sum(nil))
			}
			if !ok {
				t.Fatalf("%s signature does not verify by the JWA rules", alg)
			}
		})
	}
}

// TestES256SignatureIsRS mints enough tokens that some R or S almost surely
// starts with a zero byte (about 9 in 10 runs): the signature must stay 64
// bytes, R and S left-padded to 32, and verify.
func TestES256SignatureIsRS(t *testing.T) {
	iss, _, k := newIssuer(t, token.ES256)
	pub := iss.PublicKeys()[k.KID].Key.(*ecdsa.PublicKey)
	for range 300 {
		tok := access(t, iss, t0.Add(time.Minute))
		parts := strings.Split(tok, ".")
		if len(parts[2]) != 86 {
			t.Fatalf("signature part of %d characters, want 86 (64 bytes)", len(parts[2]))
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatal("R||S does not verify")
		}
	}
}

// joseRefresh mints a refresh token the way the issuer did before it stopped
// using go-jose.
func joseRefresh(t *testing.T, claims token.RefreshClaims) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: refreshSecret}, (&jose.SignerOptions{}).WithType("rt+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{"iss": claims.Issuer, "sub": claims.Subject, "exp": claims.ExpiresAt.Unix(),
		"iat": claims.IssuedAt.Unix(), "jti": claims.ID, "sid": claims.SessionID, "gen": claims.Generation,
		"client_id": claims.ClientID, "token_use": "refresh"})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRefreshInteropWithGoJose(t *testing.T) {
	iss, _, _ := newIssuer(t, token.ES256)
	want := token.RefreshClaims{Issuer: "http://localhost:8080", Subject: "u1", SessionID: "s1", Generation: 4, ClientID: "cli",
		IssuedAt: t0.Add(-time.Minute), ExpiresAt: t0.Add(time.Hour), ID: "jti-1"}

	// Old token (go-jose) → new verifier.
	old := joseRefresh(t, want)
	got, err := iss.VerifyRefresh(old)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("go-jose refresh token: %+v, %v", got, err)
	}

	// New token → go-jose, with the same protected header bytes as before.
	tok, minted, err := iss.MintRefresh(want)
	if err != nil || !reflect.DeepEqual(minted, want) {
		t.Fatalf("mint: %+v, %v", minted, err)
	}
	if strings.Split(tok, ".")[0] != strings.Split(old, ".")[0] {
		t.Fatalf("header %q differs from go-jose's %q", strings.Split(tok, ".")[0], strings.Split(old, ".")[0])
	}
	if got := slices.Sorted(mapsKeys(rawHeader(t, tok))); !slices.Equal(got, []string{"alg", "typ"}) {
		t.Fatalf("refresh header members = %v", got)
	}
	obj, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	body, err := obj.Verify(refreshSecret)
	if err != nil {
		t.Fatalf("go-jose verify: %v", err)
	}
	if h := obj.Signatures[0].Header; h.KeyID != "" || h.ExtraHeaders[jose.HeaderType] != "rt+jwt" {
		t.Fatalf("go-jose header = %+v", h)
	}
	var claims map[string]any
	if err := json.Unmarshal(body, &claims); err != nil || claims["gen"] != 4.0 || claims["token_use"] != "refresh" || claims["client_id"] != "cli" {
		t.Fatalf("claims = %v (%v)", claims, err)
	}
	if got, err := iss.VerifyRefresh(tok); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// macToken joins already-encoded parts and appends their HS256 MAC under the
// refresh secret: only the parser's strictness can refuse the result.
func macToken(h64, p64 string) string {
	m := hmac.New(sha256.New, refreshSecret)
	m.Write([]byte(h64 + "." + p64))
	return h64 + "." + p64 + "." + b64(m.Sum(nil))
}

func TestRefreshStrictParsing(t *testing.T) {
	iss, _, _ := newIssuer(t, token.ES256)
	good := refresh(t, iss, t0.Add(time.Hour))
	p := strings.Split(good, ".")
	h64, p64, s64 := p[0], p[1], p[2]
	claims := fmt.Sprintf(`{"iss":"http://localhost:8080","sub":"u1","sid":"s1","gen":1,"exp":%d,"iat":%d,"jti":"j","token_use":"refresh"}`,
		t0.Add(time.Hour).Unix(), t0.Unix())
	signed := func(header, payload string) string { return macToken(b64([]byte(header)), b64([]byte(payload))) }
	const hdr = `{"alg":"HS256","typ":"rt+jwt"}`
	if _, err := iss.VerifyRefresh(signed(hdr, claims)); err != nil {
		t.Fatalf("control: %v", err)
	}
	if _, err := iss.VerifyRefresh(signed(" {\n\"typ\" : \"rt+jwt\", \"alg\":\"HS\\u0032\\u0035\\u0036\"}\t", claims)); err != nil {
		t.Fatalf("another spelling of the same header: %v", err)
	}

	// The payload needs padding: 1 or 2 characters left over.
	padded := claims
	for len(padded)%3 == 0 {
		padded += " "
	}
	pad := strings.Repeat("=", 3-len(padded)%3)
	// The last character of a 32-byte MAC carries 2 unused bits.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s64[42])
	if last%4 != 0 {
		t.Fatalf("last signature character %q has unused bits set", s64[42])
	}
	lastBits := s64[:42] + alphabet[last|1:last|1+1]
	if a, b := mustDecode(t, s64), mustDecode(t, lastBits); !slices.Equal(a, b) {
		t.Fatal("a lenient decoder should read both spellings as the same MAC")
	}

	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"four parts", good + "." + s64, token.ErrMalformed},
		{"four parts, empty last", good + ".", token.ErrMalformed},
		{"two parts", h64 + "." + p64, token.ErrMalformed},
		{"one part", h64, token.ErrMalformed},
		{"only dots", "..", token.ErrMalformed},
		{"empty header", "." + p64 + "." + s64, token.ErrMalformed},
		{"empty header, valid MAC", macToken("", p64), token.ErrMalformed},
		{"empty payload", h64 + ".." + s64, token.ErrSignature},
		{"empty payload, valid MAC", macToken(h64, ""), token.ErrMalformed},
		{"empty signature", h64 + "." + p64 + ".", token.ErrSignature},
		{"padding on the signature", good + "=", token.ErrMalformed},
		{"padding on the payload, valid MAC", macToken(h64, b64([]byte(padded))+pad), token.ErrMalformed},
		{"padding on the header, valid MAC", macToken(h64+"==", p64), token.ErrMalformed},
		{"unused bits set in the signature", h64 + "." + p64 + "." + lastBits, token.ErrMalformed},
		{"newline in the signature", h64 + "." + p64 + "." + s64[:20] + "\n" + s64[20:], token.ErrMalformed},
		{"standard alphabet", h64 + "." + p64 + "." + strings.NewReplacer("-", "+", "_", "/").Replace(s64) + "+", token.ErrMalformed},
		{"signature of 31 bytes", h64 + "." + p64 + "." + s64[:41], token.ErrSignature},
		{"signature of 33 bytes", h64 + "." + p64 + "." + s64 + "AA", token.ErrSignature},
		{"signature of 48 bytes (HS384 length)", h64 + "." + p64 + "." + b64(make([]byte, 48)), token.ErrSignature},
		{"header with kid", signed(`{"alg":"HS256","kid":"x","typ":"rt+jwt"}`, claims), token.ErrSignature},
		{"header with empty kid", signed(`{"alg":"HS256","kid":"","typ":"rt+jwt"}`, claims), token.ErrSignature},
		{"header with crit", signed(`{"alg":"HS256","typ":"rt+jwt","crit":["exp"],"exp":1}`, claims), token.ErrMalformed},
		{"header with crit only", signed(`{"alg":"HS256","typ":"rt+jwt","crit":[]}`, claims), token.ErrMalformed},
		{"b64 false", signed(`{"alg":"HS256","typ":"rt+jwt","b64":false,"crit":["b64"]}`, claims), token.ErrMalformed},
		{"unknown header member", signed(`{"alg":"HS256","typ":"rt+jwt","jku":"https://evil"}`, claims), token.ErrMalformed},
		{"alg none", signed(`{"alg":"none","typ":"rt+jwt"}`, claims), token.ErrMalformed},
		{"alg none, no signature", b64([]byte(`{"alg":"none","typ":"rt+jwt"}`)) + "." + p64 + ".", token.ErrMalformed},
		{"alg HS384", signed(`{"alg":"HS384","typ":"rt+jwt"}`, claims), token.ErrMalformed},
		{"alg ES256", signed(`{"alg":"ES256","typ":"rt+jwt"}`, claims), token.ErrMalformed},
		{"alg hs256", signed(`{"alg":"hs256","typ":"rt+jwt"}`, claims), token.ErrMalformed},
		{"alg missing", signed(`{"typ":"rt+jwt"}`, claims), token.ErrMalformed},
		{"alg not a string", signed(`{"alg":["HS256"],"typ":"rt+jwt"}`, claims), token.ErrMalformed},
		{"ALG in capitals", signed(`{"ALG":"HS256","typ":"rt+jwt"}`, claims), token.ErrMalformed},
		{"duplicate alg", signed(`{"alg":"none","alg":"HS256","typ":"rt+jwt"}`, claims), token.ErrMalformed},
		{"duplicate typ", signed(`{"alg":"HS256","typ":"at+jwt","typ":"rt+jwt"}`, claims), token.ErrMalformed},
		{"header not an object", signed(`["HS256"]`, claims), token.ErrMalformed},
		{"header followed by more JSON", signed(hdr+`{}`, claims), token.ErrMalformed},
		{"header not JSON", signed(`{"alg":"HS256","typ":"rt+jwt"`, claims), token.ErrMalformed},
		{"typ at+jwt", signed(`{"alg":"HS256","typ":"at+jwt"}`, claims), token.ErrWrongKind},
		{"typ at+jwt, bad MAC", b64([]byte(`{"alg":"HS256","typ":"at+jwt"}`)) + "." + p64 + "." + s64, token.ErrWrongKind},
		{"typ JWT", signed(`{"alg":"HS256","typ":"JWT"}`, claims), token.ErrWrongKind},
		{"typ missing", signed(`{"alg":"HS256"}`, claims), token.ErrWrongKind},
		{"typ null", signed(`{"alg":"HS256","typ":null}`, claims), token.ErrWrongKind},
		{"typ not a string", signed(`{"alg":"HS256","typ":1}`, claims), token.ErrMalformed},
		{"valid MAC over a payload that is not JSON", signed(hdr, "not json"), token.ErrMalformed},
		{"valid MAC over a JSON array", signed(hdr, `[1]`), token.ErrMalformed},
		{"valid MAC over truncated JSON", signed(hdr, claims[:len(claims)-1]), token.ErrMalformed},
		{"wrong MAC over a payload that is not JSON", h64 + "." + b64([]byte("not json")) + "." + s64, token.ErrSignature},
		{"payload of another token", h64 + "." + strings.Split(refresh(t, iss, t0.Add(2*time.Hour)), ".")[1] + "." + s64, token.ErrSignature},
		{"oversized", macToken(h64, strings.Repeat("A", token.MaxTokenBytes)), token.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := iss.VerifyRefresh(tc.tok); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestConcurrentMintAndVerify shares the pooled MAC states and the signer
// between goroutines (run with -race).
func TestConcurrentMintAndVerify(t *testing.T) {
	iss, _, _ := newIssuer(t, token.HS256)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for n := range 50 {
				c := token.RefreshClaims{Subject: fmt.Sprint("u", g), SessionID: fmt.Sprint("s", n), Generation: int64(n + 1), ExpiresAt: t0.Add(time.Hour)}
				rt, _, err := iss.MintRefresh(c)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := iss.VerifyRefresh(rt); err != nil || got.Subject != c.Subject || got.Generation != c.Generation {
					t.Errorf("refresh: %+v, %v", got, err)
					return
				}
				at, _, err := iss.MintAccess(token.AccessClaims{Subject: c.Subject, SessionID: c.SessionID, ExpiresAt: t0.Add(time.Minute)})
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := iss.VerifyAccess(at); err != nil || got.Subject != c.Subject {
					t.Errorf("access: %+v, %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
