package token_test

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

// The fuzz targets of this file verify tokens with a fixed ES256 key, a fixed
// refresh secret and a fixed clock, so the seed corpora in
// testdata/fuzz/Fuzz*/ can hold genuinely valid tokens (regenerate them with
// `go test ./token -run TestWriteFuzzSeeds -write-fuzz-seeds`). `go test`
// runs the seeds every time; .ci/fuzz.sh explores further.

var writeSeeds = flag.Bool("write-fuzz-seeds", false, "rewrite the minted-token seeds under testdata/fuzz")

// fuzzKeyDER is a P-256 private key (PKCS#8) used only by these tests.
const fuzzKeyDER = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgsnh2IxmIuhN2xjGUrFPIcUrxagHDqCserHs0SnAmv8mhRANCAAQ0n3S1DpyOT7CnEATo4jXbSGXk5hpJL/whhXBM/hGbwVfIOBEX582rxpoRL4+fQdjhDMmlFoACiHgUZfUJtSTI"

const (
	fuzzKID    = "fuzz-key-1"
	fuzzIss    = "http://localhost:8080"
	fuzzAud    = "latchkey"
	fuzzLeeway = 5 * time.Second
)

var (
	fuzzNow    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fuzzSecret = []byte(strings.Repeat("r", 32))
)

// fuzzIssuer returns an issuer with the fixed key, secret and clock.
func fuzzIssuer(t testing.TB) (*token.Issuer, *ecdsa.PrivateKey) {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(fuzzKeyDER)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := token.NewIssuer(token.Options{Issuer: fuzzIss, Audience: fuzzAud, RefreshSecret: fuzzSecret,
		Leeway: fuzzLeeway, PublishRetiredFor: 15*time.Minute + fuzzLeeway, Now: func() time.Time { return fuzzNow }})
	if err != nil {
		t.Fatal(err)
	}
	k := store.SigningKey{KID: fuzzKID, Algorithm: token.ES256, Private: der, CreatedAt: fuzzNow.Add(-time.Hour)}
	if err := iss.SetKeys([]store.SigningKey{k}); err != nil {
		t.Fatal(err)
	}
	return iss, raw.(*ecdsa.PrivateKey)
}

// mintedAccess are the only access-token claims the fuzz issuer ever signs,
// by jti. A token that verifies must carry exactly one of them.
var mintedAccess = map[string]token.AccessClaims{
	"a1": {Issuer: fuzzIss, Subject: "u1", Audience: []string{fuzzAud}, IssuedAt: fuzzNow.Add(-time.Minute),
		ExpiresAt: fuzzNow.Add(10 * time.Minute), ID: "a1", SessionID: "s1"},
	"a2": {Issuer: fuzzIss, Subject: "u2", Audience: []string{"other", fuzzAud}, IssuedAt: fuzzNow,
		ExpiresAt: fuzzNow.Add(time.Minute), ID: "a2", SessionID: "s2", Extra: map[string]any{"role": "admin"}},
	// Expired: its signature is good, verification must still refuse it.
	"a3": {Issuer: fuzzIss, Subject: "u1", Audience: []string{fuzzAud}, IssuedAt: fuzzNow.Add(-time.Hour),
		ExpiresAt: fuzzNow.Add(-time.Minute), ID: "a3", SessionID: "s1"},
}

var mintedRefresh = map[string]token.RefreshClaims{
	"r1": {Issuer: fuzzIss, Subject: "u1", SessionID: "s1", Generation: 1, IssuedAt: fuzzNow.Add(-time.Minute),
		ExpiresAt: fuzzNow.Add(24 * time.Hour), ID: "r1"},
	"r2": {Issuer: fuzzIss, Subject: "u2", SessionID: "s2", Generation: 7, ClientID: "cli", IssuedAt: fuzzNow,
		ExpiresAt: fuzzNow.Add(time.Hour), ID: "r2"},
	"r3": {Issuer: fuzzIss, Subject: "u1", SessionID: "s1", Generation: 2, IssuedAt: fuzzNow.Add(-2 * time.Hour),
		ExpiresAt: fuzzNow, ID: "r3"}, // expires exactly now: refused (no leeway)
}

func mintAll(t testing.TB, iss *token.Issuer) (access, refresh []string) {
	t.Helper()
	for _, id := range slices.Sorted(mapsKeys(mintedAccess)) {
		tok, _, err := iss.MintAccess(mintedAccess[id])
		if err != nil {
			t.Fatal(err)
		}
		access = append(access, tok)
	}
	for _, id := range slices.Sorted(mapsKeys(mintedRefresh)) {
		tok, _, err := iss.MintRefresh(mintedRefresh[id])
		if err != nil {
			t.Fatal(err)
		}
		refresh = append(refresh, tok)
	}
	return access, refresh
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// mutations returns a handful of classic attacks on a valid token, to seed
// the fuzzer next to the valid token itself.
func mutations(tok string) []string {
	p := strings.Split(tok, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	return []string{
		tok,
		b64([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+fuzzKID+`"}`)) + "." + p[1] + ".",
		b64([]byte(`{"alg":"HS256","typ":"at+jwt","kid":"`+fuzzKID+`"}`)) + "." + p[1] + "." + p[2],
		p[0] + "." + p[1] + "." + p[2][:len(p[2])-2] + "AA",
		p[0] + "." + b64([]byte(`{"sub":"admin","token_use":"access"}`)) + "." + p[2],
		tok[:len(tok)/2],
		tok + "." + p[2],
		"\xff" + tok,
	}
}

// FuzzVerifyAccess feeds arbitrary strings to VerifyAccess: it must never
// panic, and a token it accepts must carry exactly the claims of a token the
// issuer minted (a forged or altered token never verifies), unexpired.
func FuzzVerifyAccess(f *testing.F) {
	iss, _ := fuzzIssuer(f)
	access, refresh := mintAll(f, iss)
	for _, tok := range append(access, refresh...) {
		for _, m := range mutations(tok) {
			f.Add(m)
		}
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := iss.VerifyAccess(tok)
		if err != nil {
			if !isVerifyError(err) {
				t.Fatalf("error %v wraps none of the token errors", err)
			}
			return
		}
		want, ok := mintedAccess[c.ID]
		if !ok || !reflect.DeepEqual(c, want) {
			t.Fatalf("accepted claims that were never minted:\n got %+v\nwant %+v", c, want)
		}
		if !fuzzNow.Before(c.ExpiresAt.Add(fuzzLeeway)) {
			t.Fatalf("accepted an expired token: %+v", c)
		}
	})
}

// FuzzVerifyRefresh is FuzzVerifyAccess for refresh tokens (exact expiry).
func FuzzVerifyRefresh(f *testing.F) {
	iss, _ := fuzzIssuer(f)
	access, refresh := mintAll(f, iss)
	for _, tok := range append(refresh, access...) {
		for _, m := range mutations(tok) {
			f.Add(m)
		}
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := iss.VerifyRefresh(tok)
		if err != nil {
			if !isVerifyError(err) {
				t.Fatalf("error %v wraps none of the token errors", err)
			}
			return
		}
		want, ok := mintedRefresh[c.ID]
		if !ok || !reflect.DeepEqual(c, want) {
			t.Fatalf("accepted claims that were never minted:\n got %+v\nwant %+v", c, want)
		}
		if !fuzzNow.Before(c.ExpiresAt) {
			t.Fatalf("accepted an expired refresh token: %+v", c)
		}
	})
}

// FuzzAccessClaims signs arbitrary header and payload bytes with the real
// access key, so the fuzzer reaches the claim checks behind the signature:
// whatever VerifyAccess accepts must satisfy the whole policy (RFC 8725 §3.1,
// §3.8, §3.9, §3.11; exp/iat/nbf with the leeway).
func FuzzAccessClaims(f *testing.F) {
	iss, priv := fuzzIssuer(f)
	hdr := `{"alg":"ES256","kid":"` + fuzzKID + `","typ":"at+jwt"}`
	f.Add([]byte(hdr), []byte(fmt.Sprintf(`{"iss":%q,"sub":"u","aud":"latchkey","exp":%d,"iat":%d,"jti":"j","sid":"s","token_use":"access"}`,
		fuzzIss, fuzzNow.Add(time.Minute).Unix(), fuzzNow.Unix())))
	f.Add([]byte(hdr), []byte(fmt.Sprintf(`{"iss":%q,"sub":"u","aud":["x","latchkey"],"exp":%d,"iat":%d,"nbf":%d,"jti":"j","sid":"s","token_use":"access","role":1}`,
		fuzzIss, fuzzNow.Add(time.Minute).Unix(), fuzzNow.Unix(), fuzzNow.Add(3*time.Second).Unix())))
	f.Add([]byte(`{"alg":"ES256","kid":"`+fuzzKID+`","typ":"rt+jwt"}`), []byte(`{"token_use":"refresh","gen":1}`))
	f.Add([]byte(`{"alg":"ES256","kid":"`+fuzzKID+`","typ":"at+jwt","crit":["exp"]}`), []byte(`{}`))
	f.Add([]byte(hdr), []byte(`{"iss":"x","exp":9223372036854775807,"iat":-9223372036854775808}`))
	f.Fuzz(func(t *testing.T, header, payload []byte) {
		tok := signES256(t, priv, header, payload)
		c, err := iss.VerifyAccess(tok)
		if err != nil {
			if !isVerifyError(err) {
				t.Fatalf("error %v wraps none of the token errors", err)
			}
			return
		}
		if typ := headerTyp(header); typ != "at+jwt" {
			t.Fatalf("accepted a token whose header %q says typ %q", header, typ)
		}
		switch {
		case c.Issuer != fuzzIss:
			t.Fatalf("accepted issuer %q", c.Issuer)
		case !slices.Contains(c.Audience, fuzzAud):
			t.Fatalf("accepted audience %q", c.Audience)
		case c.Subject == "" || c.SessionID == "" || c.ID == "":
			t.Fatalf("accepted missing claims: %+v", c)
		case c.IssuedAt.After(fuzzNow.Add(fuzzLeeway)):
			t.Fatalf("accepted iat in the future: %v", c.IssuedAt)
		case !fuzzNow.Before(c.ExpiresAt.Add(fuzzLeeway)):
			t.Fatalf("accepted an expired token: %v", c.ExpiresAt)
		}
		for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "token_use"} {
			if _, ok := c.Extra[k]; ok {
				t.Fatalf("registered claim %q leaked into Extra: %v", k, c.Extra)
			}
		}
	})
}

// FuzzRefreshClaims signs arbitrary header and payload bytes with the
// refresh secret: whatever VerifyRefresh accepts must be a refresh token of
// this issuer, with a session, a generation, and an unexpired exp.
func FuzzRefreshClaims(f *testing.F) {
	iss, _ := fuzzIssuer(f)
	hdr := `{"alg":"HS256","typ":"rt+jwt"}`
	f.Add([]byte(hdr), []byte(fmt.Sprintf(`{"iss":%q,"sub":"u","sid":"s","gen":1,"exp":%d,"iat":%d,"jti":"j","token_use":"refresh"}`,
		fuzzIss, fuzzNow.Add(time.Hour).Unix(), fuzzNow.Unix())))
	f.Add([]byte(`{"alg":"HS256","typ":"rt+jwt","kid":"x"}`), []byte(`{"token_use":"refresh"}`))
	f.Add([]byte(`{"alg":"HS256","typ":"at+jwt"}`), []byte(`{"token_use":"access","gen":1e400}`))
	f.Add([]byte(hdr), []byte(`{"iss":"http://localhost:8080","sub":"u","sid":"s","gen":-1,"exp":1}`))
	f.Fuzz(func(t *testing.T, header, payload []byte) {
		tok := signHS256(fuzzSecret, header, payload)
		c, err := iss.VerifyRefresh(tok)
		if err != nil {
			if !isVerifyError(err) {
				t.Fatalf("error %v wraps none of the token errors", err)
			}
			return
		}
		if typ := headerTyp(header); typ != "rt+jwt" {
			t.Fatalf("accepted a token whose header %q says typ %q", header, typ)
		}
		switch {
		case c.Issuer != fuzzIss:
			t.Fatalf("accepted issuer %q", c.Issuer)
		case c.Subject == "" || c.SessionID == "" || c.Generation < 1:
			t.Fatalf("accepted missing claims: %+v", c)
		case !fuzzNow.Before(c.ExpiresAt):
			t.Fatalf("accepted an expired refresh token: %v", c.ExpiresAt)
		}
	})
}

// headerTyp reads typ from a JOSE header as a plain JSON object.
func headerTyp(header []byte) string {
	var h map[string]any
	if json.Unmarshal(header, &h) != nil {
		return ""
	}
	typ, _ := h["typ"].(string)
	return typ
}

func isVerifyError(err error) bool {
	for _, e := range []error{token.ErrMalformed, token.ErrSignature, token.ErrWrongKind, token.ErrClaims, token.ErrExpired} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func signES256(t *testing.T, priv *ecdsa.PrivateKey, header, payload []byte) string {
	b64 := base64.RawURLEncoding.EncodeToString
	input := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig)
}

func signHS256(key, header, payload []byte) string {
	b64 := base64.RawURLEncoding.EncodeToString
	input := b64(header) + "." + b64(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return input + "." + b64(m.Sum(nil))
}

// TestWriteFuzzSeeds rewrites the seed files that hold tokens minted with the
// fixed key (valid ones and their classic mutations). It does nothing
// without -write-fuzz-seeds.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -write-fuzz-seeds to regenerate the minted-token seeds")
	}
	iss, _ := fuzzIssuer(t)
	access, refresh := mintAll(t, iss)
	write := func(target string, toks []string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, tok := range toks {
			for j, m := range mutations(tok) {
				body := fmt.Sprintf("go test fuzz v1\nstring(%q)\n", m)
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("minted-%d-%d", i, j)), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	write("FuzzVerifyAccess", append(access, refresh...))
	write("FuzzVerifyRefresh", append(refresh, access...))
}

// TestFuzzOraclesAreNotVacuous checks that the minted seeds really verify
// (so the fuzz targets' "accepted ⇒ minted" branch is exercised).
func TestFuzzOraclesAreNotVacuous(t *testing.T) {
	iss, _ := fuzzIssuer(t)
	access, refresh := mintAll(t, iss)
	for i, tok := range access {
		_, err := iss.VerifyAccess(tok)
		if expired := i == 2; expired != errors.Is(err, token.ErrExpired) || (!expired && err != nil) {
			t.Fatalf("access %d: %v", i, err)
		}
	}
	for i, tok := range refresh {
		_, err := iss.VerifyRefresh(tok)
		if expired := i == 2; expired != errors.Is(err, token.ErrExpired) || (!expired && err != nil) {
			t.Fatalf("refresh %d: %v", i, err)
		}
	}
}
