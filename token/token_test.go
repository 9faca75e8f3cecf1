package token_test

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newIssuer(t testing.TB, alg string) (*token.Issuer, *clock, store.SigningKey) {
	t.Helper()
	c := &clock{t: t0}
	iss, err := token.NewIssuer(token.Options{
		Issuer: "http://localhost:8080", Audience: "latchkey",
		RefreshSecret: []byte(strings.Repeat("r", 32)), Leeway: 5 * time.Second,
		PublishRetiredFor: 15*time.Minute + 5*time.Second, Now: c.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	var k store.SigningKey
	if alg == token.HS256 {
		k = token.SecretKey([]byte(strings.Repeat("s", 32)))
	} else if k, err = token.GenerateKey(alg, t0); err != nil {
		t.Fatal(err)
	}
	if err := iss.SetKeys([]store.SigningKey{k}); err != nil {
		t.Fatal(err)
	}
	return iss, c, k
}

func access(t testing.TB, iss *token.Issuer, exp time.Time) string {
	t.Helper()
	tok, _, err := iss.MintAccess(token.AccessClaims{Subject: "u1", SessionID: "s1", ExpiresAt: exp})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func refresh(t testing.TB, iss *token.Issuer, exp time.Time) string {
	t.Helper()
	tok, _, err := iss.MintRefresh(token.RefreshClaims{Subject: "u1", SessionID: "s1", Generation: 3, ExpiresAt: exp})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRoundTripEveryAlgorithm(t *testing.T) {
	for _, alg := range []string{token.ES256, token.EdDSA, token.RS256, token.HS256} {
		t.Run(alg, func(t *testing.T) {
			iss, _, k := newIssuer(t, alg)
			tok, _, err := iss.MintAccess(token.AccessClaims{Subject: "u1", SessionID: "s1", ExpiresAt: t0.Add(time.Minute),
				Extra: map[string]any{"role": "admin", "sub": "attacker"}})
			if err != nil {
				t.Fatal(err)
			}
			c, err := iss.VerifyAccess(tok)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if c.Subject != "u1" || c.SessionID != "s1" || c.Extra["role"] != "admin" || c.Issuer != "http://localhost:8080" {
				t.Fatalf("claims = %+v", c)
			}
			hdr := header(t, tok)
			if hdr["kid"] != k.KID || hdr["typ"] != "at+jwt" || hdr["alg"] != alg {
				t.Fatalf("header = %v", hdr)
			}
			var set struct{ Keys []map[string]any }
			if err := json.Unmarshal(iss.JWKS(), &set); err != nil {
				t.Fatal(err)
			}
			if alg == token.HS256 {
				if len(set.Keys) != 0 {
					t.Fatalf("a shared secret was published: %s", iss.JWKS())
				}
			} else if len(set.Keys) != 1 || set.Keys[0]["kid"] != k.KID || set.Keys[0]["d"] != nil {
				t.Fatalf("JWKS = %s", iss.JWKS())
			}
		})
	}
}

func header(t testing.TB, tok string) map[string]any {
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRefreshClaimsAndExactExpiry(t *testing.T) {
	iss, clk, _ := newIssuer(t, token.ES256)
	exp := t0.Add(24 * time.Hour)
	tok := refresh(t, iss, exp)
	c, err := iss.VerifyRefresh(tok)
	if err != nil || c.Generation != 3 || c.SessionID != "s1" || !c.ExpiresAt.Equal(exp) {
		t.Fatalf("claims %+v, err %v", c, err)
	}
	clk.t = exp.Add(-time.Nanosecond)
	if _, err := iss.VerifyRefresh(tok); err != nil {
		t.Fatalf("one nanosecond before exp: %v", err)
	}
	clk.t = exp // no leeway for refresh tokens: expired at exp exactly
	if c, err := iss.VerifyRefresh(tok); !errors.Is(err, token.ErrExpired) || c.SessionID != "s1" {
		t.Fatalf("at exp: %v (claims %+v)", err, c)
	}
}

func TestAccessLeeway(t *testing.T) {
	iss, clk, _ := newIssuer(t, token.ES256)
	tok := access(t, iss, t0.Add(time.Minute))
	clk.t = t0.Add(time.Minute + 4*time.Second)
	if _, err := iss.VerifyAccess(tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	clk.t = t0.Add(time.Minute + 5*time.Second)
	if _, err := iss.VerifyAccess(tok); !errors.Is(err, token.ErrExpired) {
		t.Fatalf("past leeway: %v", err)
	}
}

func TestUniqueJTI(t *testing.T) {
	iss, _, _ := newIssuer(t, token.ES256)
	seen := map[string]bool{}
	for range 200 {
		_, c, err := iss.MintAccess(token.AccessClaims{Subject: "u", SessionID: "s", ExpiresAt: t0.Add(time.Minute)})
		if err != nil || seen[c.ID] {
			t.Fatalf("duplicate jti %q (%v)", c.ID, err)
		}
		seen[c.ID] = true
	}
}

// forge signs arbitrary header/claims with key under alg.
func forge(t testing.TB, alg jose.SignatureAlgorithm, key any, typ string, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	var sk jose.SigningKey
	if kid != "" {
		sk = jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}
	} else {
		sk = jose.SigningKey{Algorithm: alg, Key: key}
	}
	s, err := jose.NewSigner(sk, opts)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(claims)
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

func accessClaims(mod func(map[string]any)) map[string]any {
	m := map[string]any{"iss": "http://localhost:8080", "sub": "u1", "aud": "latchkey", "exp": t0.Add(time.Minute).Unix(),
		"iat": t0.Unix(), "jti": "j", "sid": "s1", "token_use": "access"}
	if mod != nil {
		mod(m)
	}
	return m
}

func TestAccessAttacks(t *testing.T) {
	iss, _, k := newIssuer(t, token.ES256)
	raw, _ := x509.ParsePKCS8PrivateKey(k.Private)
	priv := raw.(*ecdsa.PrivateKey)
	pubDER, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	other, _ := token.GenerateKey(token.ES256, t0)
	otherRaw, _ := x509.ParsePKCS8PrivateKey(other.Private)
	good := access(t, iss, t0.Add(time.Minute))
	parts := strings.Split(good, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+k.KID+`"}`)) + "." + parts[1] + "."
	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"alg none", none, token.ErrMalformed},
		{"HS256 signed with the public key (algorithm confusion)", forge(t, jose.HS256, pubDER, "at+jwt", k.KID, accessClaims(nil)), token.ErrMalformed},
		{"refresh token as access token", refresh(t, iss, t0.Add(time.Hour)), token.ErrWrongKind},
		{"token_use refresh in an ES256 token", forge(t, jose.ES256, priv, "at+jwt", k.KID, accessClaims(func(m map[string]any) { m["token_use"] = "refresh" })), token.ErrWrongKind},
		{"tampered claims", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin"}`)) + "." + parts[2], token.ErrSignature},
		{"tampered signature", parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), token.ErrSignature},
		{"wrong key, same kid", forge(t, jose.ES256, otherRaw, "at+jwt", k.KID, accessClaims(nil)), token.ErrSignature},
		{"unknown kid", forge(t, jose.ES256, otherRaw, "at+jwt", other.KID, accessClaims(nil)), token.ErrSignature},
		{"wrong issuer", forge(t, jose.ES256, priv, "at+jwt", k.KID, accessClaims(func(m map[string]any) { m["iss"] = "https://evil" })), token.ErrClaims},
		{"wrong audience", forge(t, jose.ES256, priv, "at+jwt", k.KID, accessClaims(func(m map[string]any) { m["aud"] = []string{"other"} })), token.ErrClaims},
		{"iat in the future", forge(t, jose.ES256, priv, "at+jwt", k.KID, accessClaims(func(m map[string]any) { m["iat"] = t0.Add(time.Minute).Unix() })), token.ErrClaims},
		{"nbf in the future", forge(t, jose.ES256, priv, "at+jwt", k.KID, accessClaims(func(m map[string]any) { m["nbf"] = t0.Add(time.Minute).Unix() })), token.ErrClaims},
		{"expired", forge(t, jose.ES256, priv, "at+jwt", k.KID, accessClaims(func(m map[string]any) { m["exp"] = t0.Add(-time.Minute).Unix() })), token.ErrExpired},
		{"missing sid", forge(t, jose.ES256, priv, "at+jwt", k.KID, accessClaims(func(m map[string]any) { delete(m, "sid") })), token.ErrClaims},
		{"wrong typ", forge(t, jose.ES256, priv, "JWT", k.KID, accessClaims(nil)), token.ErrWrongKind},
		{"oversized", strings.Repeat("a", token.MaxTokenBytes+1), token.ErrMalformed},
		{"truncated", good[:len(good)/2], token.ErrMalformed},
		{"empty", "", token.ErrMalformed},
		{"non-UTF-8", "\xff\xfe." + parts[1] + "." + parts[2], token.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := iss.VerifyAccess(tc.tok)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRefreshAttacks(t *testing.T) {
	iss, _, _ := newIssuer(t, token.HS256) // even with HS256 access tokens, the kinds stay apart
	secret := []byte(strings.Repeat("r", 32))
	claims := func(mod func(map[string]any)) map[string]any {
		m := map[string]any{"iss": "http://localhost:8080", "sub": "u1", "sid": "s1", "gen": 1, "exp": t0.Add(time.Hour).Unix(),
			"iat": t0.Unix(), "jti": "j", "token_use": "refresh"}
		if mod != nil {
			mod(m)
		}
		return m
	}
	if _, err := iss.VerifyRefresh(forge(t, jose.HS256, secret, "rt+jwt", "", claims(nil))); err != nil {
		t.Fatalf("control: %v", err)
	}
	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"access token as refresh token", access(t, iss, t0.Add(time.Minute)), token.ErrWrongKind},
		{"wrong secret", forge(t, jose.HS256, []byte(strings.Repeat("x", 32)), "rt+jwt", "", claims(nil)), token.ErrSignature},
		{"HS512", forge(t, jose.HS512, []byte(strings.Repeat("r", 64)), "rt+jwt", "", claims(nil)), token.ErrMalformed},
		{"token_use access", forge(t, jose.HS256, secret, "rt+jwt", "", claims(func(m map[string]any) { m["token_use"] = "access" })), token.ErrWrongKind},
		{"missing generation", forge(t, jose.HS256, secret, "rt+jwt", "", claims(func(m map[string]any) { delete(m, "gen") })), token.ErrClaims},
		{"wrong issuer", forge(t, jose.HS256, secret, "rt+jwt", "", claims(func(m map[string]any) { m["iss"] = "x" })), token.ErrClaims},
		{"gen as string", forge(t, jose.HS256, secret, "rt+jwt", "", claims(func(m map[string]any) { m["gen"] = "1" })), token.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := iss.VerifyRefresh(tc.tok); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestKeyRotationKeepsRetiredKeyUntilItsTokensExpire(t *testing.T) {
	iss, clk, k1 := newIssuer(t, token.ES256)
	old := access(t, iss, t0.Add(15*time.Minute))
	k2, _ := token.GenerateKey(token.ES256, t0.Add(time.Minute))
	k1.RetiredAt = k2.CreatedAt
	clk.t = t0.Add(time.Minute)
	if err := iss.SetKeys([]store.SigningKey{k2, k1}); err != nil {
		t.Fatal(err)
	}
	if iss.ActiveKeyID() != k2.KID {
		t.Fatalf("active = %s, want the new key", iss.ActiveKeyID())
	}
	if _, err := iss.VerifyAccess(old); err != nil {
		t.Fatalf("token of the retired key: %v", err)
	}
	if !strings.Contains(string(iss.JWKS()), k1.KID) || !strings.Contains(string(iss.JWKS()), k2.KID) {
		t.Fatalf("JWKS must publish both: %s", iss.JWKS())
	}
	// Once every token of k1 has expired, it is no longer published or accepted.
	clk.t = k1.RetiredAt.Add(15*time.Minute + 5*time.Second)
	if err := iss.SetKeys([]store.SigningKey{k2, k1}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(iss.JWKS()), k1.KID) {
		t.Fatalf("retired key still published: %s", iss.JWKS())
	}
}

func BenchmarkMintAccessES256(b *testing.B) {
	iss, _, _ := newIssuer(b, token.ES256)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := iss.MintAccess(token.AccessClaims{Subject: "u1", SessionID: "s1", ExpiresAt: t0.Add(time.Minute)}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMintAccessEdDSA(b *testing.B) {
	iss, _, _ := newIssuer(b, token.EdDSA)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := iss.MintAccess(token.AccessClaims{Subject: "u1", SessionID: "s1", ExpiresAt: t0.Add(time.Minute)}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyAccessES256(b *testing.B) {
	iss, _, _ := newIssuer(b, token.ES256)
	tok := access(b, iss, t0.Add(time.Minute))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.VerifyAccess(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMintRefresh(b *testing.B) {
	iss, _, _ := newIssuer(b, token.ES256)
	b.ReportAllocs()
	for b.Loop() {
		refresh(b, iss, t0.Add(time.Hour))
	}
}

func BenchmarkVerifyRefresh(b *testing.B) {
	iss, _, _ := newIssuer(b, token.ES256)
	tok := refresh(b, iss, t0.Add(time.Hour))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.VerifyRefresh(tok); err != nil {
			b.Fatal(err)
		}
	}
}
