package token_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/token"
)

// foldedNames are spellings encoding/json decodes into a registered claim:
// ASCII case, U+017F LATIN SMALL LETTER LONG S (folds onto "s"), U+212A
// KELVIN SIGN (folds onto "k", none here), and JSON escapes of them.
var foldedNames = []string{"SUB", "Sub", "ſub", "ſid", "SID", "ISS", "TOKEN_USE", "Token_Use", "AUD", "EXP", "Gen", "CLIENT_ID", "client_Id", "ſub"}

// TestMintDropsFoldedClaims: an application claim whose name folds onto a
// registered one never reaches the token, so the token verifies with the
// registered claims the issuer wrote (a claims hook returning "ſub" replaced
// sub, and a user minted a token for another).
func TestMintDropsFoldedClaims(t *testing.T) {
	iss, _, _ := newIssuer(t, token.ES256)
	extra := map[string]any{"role": "admin"}
	for _, n := range foldedNames {
		extra[n] = "victim"
	}
	extra["gen"], extra["client_id"] = 99, "evil" // registered names MintAccess may leave out
	tok, _, err := iss.MintAccess(token.AccessClaims{Subject: "u1", SessionID: "s1", ExpiresAt: t0.Add(time.Minute), Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	var members map[string]any // a map keeps every member name as written
	if err := json.Unmarshal(decodePart(t, tok, 1), &members); err != nil {
		t.Fatal(err)
	}
	for n := range members {
		if !slices.Contains([]string{"iss", "sub", "aud", "exp", "iat", "jti", "sid", "token_use", "role"}, n) {
			t.Errorf("payload member %q (%v)", n, members[n])
		}
	}
	c, err := iss.VerifyAccess(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "u1" || c.SessionID != "s1" || c.Generation != 0 || c.ClientID != "" || len(c.Extra) != 1 || c.Extra["role"] != "admin" {
		t.Fatalf("claims = %+v", c)
	}
}

// TestVerifyRefusesFoldedClaims: a payload signed with the real key whose
// member folds onto a registered claim, or repeats one, is refused with
// ErrClaims by the issuer, by a Verifier (a resource server checking tokens
// against the JWKS), and for refresh tokens; the exact spellings verify.
func TestVerifyRefusesFoldedClaims(t *testing.T) {
	iss, keys, priv := multiIssuer(t, false)
	es := keys[token.ES256].KID
	pub := iss.PublicKeys()
	v := &token.Verifier{Issuer: "http://localhost:8080", Audience: "latchkey", Now: func() time.Time { return t0 },
		Key: func(_ context.Context, kid string) (token.PublicKey, error) {
			if k, ok := pub[kid]; ok {
				return k, nil
			}
			return token.PublicKey{}, errors.New("unknown kid")
		}}
	good := goodClaims()
	with := func(member string) string { return strings.TrimSuffix(good, "}") + "," + member + "}" }
	bad := []string{
		with(`"ſub":"victim"`), with(`"SUB":"victim"`), with(`"Sid":"s9"`), with(`"ſid":"s9"`),
		with(`"\u017fub":"victim"`), with(`"su\u0042":"victim"`), with(`"ISS":"x"`), with(`"Token_use":"access"`),
		with(`"GEN":7`), with(`"Client_ID":"c"`), with(`"sub":"victim"`), with(`"su\u0062":"victim"`),
	}
	for _, claims := range bad {
		tok := rawSign(t, token.ES256, priv[token.ES256], hdr(token.ES256, es), claims, nil)
		if _, err := iss.VerifyAccess(tok); !errors.Is(err, token.ErrClaims) {
			t.Errorf("issuer accepted %s: %v", claims, err)
		}
		if _, err := v.VerifyAccess(context.Background(), tok); !errors.Is(err, token.ErrClaims) {
			t.Errorf("verifier accepted %s: %v", claims, err)
		}
	}
	for _, claims := range []string{good, with(`"gen":3,"client_id":"app","role":"x","sub_id":"y","Subject":"z"`)} {
		tok := rawSign(t, token.ES256, priv[token.ES256], hdr(token.ES256, es), claims, nil)
		c, err := iss.VerifyAccess(tok)
		if err != nil || c.Subject != "u1" {
			t.Errorf("issuer refused %s: %v", claims, err)
		}
		if _, err := v.VerifyAccess(context.Background(), tok); err != nil {
			t.Errorf("verifier refused %s: %v", claims, err)
		}
	}

	// Refresh tokens: the same rule (they are the server's own, but one
	// reader for both kinds keeps the rule in one place).
	secret := []byte(strings.Repeat("r", 32))
	rt := fmt.Sprintf(`{"iss":"http://localhost:8080","sub":"u1","sid":"s1","gen":2,"iat":%d,"exp":%d,"jti":"j","token_use":"refresh"`,
		t0.Unix(), t0.Add(time.Hour).Unix())
	if _, err := iss.VerifyRefresh(rawSign(t, token.HS256, secret, `{"alg":"HS256","typ":"rt+jwt"}`, rt+`}`, nil)); err != nil {
		t.Fatalf("control refresh token: %v", err)
	}
	for _, member := range []string{`"GEN":9`, `"ſid":"s2"`, `"gen":9`} {
		tok := rawSign(t, token.HS256, secret, `{"alg":"HS256","typ":"rt+jwt"}`, rt+","+member+`}`, nil)
		if _, err := iss.VerifyRefresh(tok); !errors.Is(err, token.ErrClaims) {
			t.Errorf("refresh with %s: %v, want ErrClaims", member, err)
		}
	}
}

// TestAccessGenerationAndClientID: the session generation and client id
// travel in gen and client_id and come back from VerifyAccess.
func TestAccessGenerationAndClientID(t *testing.T) {
	iss, _, _ := newIssuer(t, token.EdDSA)
	tok, _, err := iss.MintAccess(token.AccessClaims{Subject: "u1", SessionID: "s1", ExpiresAt: t0.Add(time.Minute),
		Generation: 4, ClientID: "app-a"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := iss.VerifyAccess(tok)
	if err != nil || c.Generation != 4 || c.ClientID != "app-a" || c.Extra != nil {
		t.Fatalf("claims %+v, %v", c, err)
	}
	payload := string(decodePart(t, tok, 1))
	if !strings.Contains(payload, `"gen":4`) || !strings.Contains(payload, `"client_id":"app-a"`) {
		t.Fatalf("payload %s", payload)
	}
}

// decodePart returns the decoded i-th part of a compact JWS.
func decodePart(t *testing.T, tok string, i int) []byte {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
