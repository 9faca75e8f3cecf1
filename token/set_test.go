package token_test

import (
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-dev/latchkey/token"
)

// A SET is signed by the active access-token key with typ secevent+jwt: it
// verifies with the published JWKS, carries the key's kid, and is never
// accepted as an access token (nor an access token as a SET: the typ
// differs).
func TestSignSET(t *testing.T) {
	for _, alg := range []string{token.ES256, token.EdDSA, token.RS256} {
		t.Run(alg, func(t *testing.T) {
			iss, _, k := newIssuer(t, alg)
			claims := []byte(`{"iss":"http://localhost:8080","jti":"j1","iat":1,"events":{}}`)
			set, err := iss.SignSET(claims)
			if err != nil {
				t.Fatal(err)
			}
			var jwks jose.JSONWebKeySet
			if err := json.Unmarshal(iss.JWKS(), &jwks); err != nil {
				t.Fatal(err)
			}
			jws, err := jose.ParseSigned(set, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			h := jws.Signatures[0].Header
			if h.KeyID != k.KID || h.ExtraHeaders[jose.HeaderType] != "secevent+jwt" {
				t.Errorf("header kid %q typ %v, want %q secevent+jwt", h.KeyID, h.ExtraHeaders[jose.HeaderType], k.KID)
			}
			keys := jwks.Key(h.KeyID)
			if len(keys) != 1 {
				t.Fatalf("JWKS has %d keys for kid %s", len(keys), h.KeyID)
			}
			payload, err := jws.Verify(keys[0])
			if err != nil {
				t.Fatalf("verify with the JWKS: %v", err)
			}
			if string(payload) != string(claims) {
				t.Errorf("payload %s, want %s", payload, claims)
			}
			if _, err := iss.VerifyAccess(set); err == nil {
				t.Error("a SET was accepted as an access token")
			}
			if _, err := iss.VerifyRefresh(set); err == nil {
				t.Error("a SET was accepted as a refresh token")
			}
		})
	}
}
