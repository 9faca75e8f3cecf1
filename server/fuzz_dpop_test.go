package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/dpop"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// FuzzDPoPRoutes is FuzzRoutes with a DPoP header: arbitrary proofs and
// Authorization headers against every route of fuzzRoutes, with DPoP
// nonces on. In any input, $DAT and $DRT are replaced by the access and
// refresh tokens of a fresh session bound to the fuzzer's key, $SID by its
// id, and $PROOF by a valid proof of that key for the route (with the
// access token's ath when the Authorization header names $DAT). It must
// never answer 5xx or panic, and every error body is a JSON object.
func FuzzDPoPRoutes(f *testing.F) {
	s := servertest.Start(f, nil)
	s.SignUp(f, fuzzEmail, fuzzPassword)
	h := s.Config.Handler
	key := newKey(f)
	jkt, _ := dpop.Thumbprint(key.Public())
	d := dpopSigner{base: s.URL, now: s.Clock.Now, key: key}
	const j = "application/json"
	seeds := []struct {
		route              int
		ctype, body, authz string
		proof              string
	}{
		{1, j, `{"email":"fuzz@example.com","password":"fuzz-password-1"}`, "", "$PROOF"},
		{1, j, `{"email":"fuzz@example.com","password":"fuzz-password-1"}`, "", "e30.e30.e30"},
		{2, j, `{"refreshToken":"$DRT"}`, "", "$PROOF"},
		{2, j, `{"refreshToken":"$DRT"}`, "", ""},
		{2, j, `{"refreshToken":"$DRT"}`, "", "$PROOF.x"},
		{3, "", "", "DPoP $DAT", "$PROOF"},
		{4, "", "", "DPoP $DAT", "$PROOF"},
		{4, "", "", "Bearer $DAT", "$PROOF"},
		{4, "", "", "DPoP $DAT", ""},
		{4, "", "", "dpop  $DAT", "a.b.c"},
		{5, j, `{"scope":"global"}`, "DPoP $DAT", "$PROOF"},
		{7, "", "", "DPoP $DAT", "$PROOF"},
		{8, "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=$DRT", "", "$PROOF"},
		{10, "application/x-www-form-urlencoded", "token=$DAT", "DPoP $DAT", "$PROOF"},
	}
	for _, sd := range seeds {
		f.Add(uint8(sd.route), sd.ctype, []byte(sd.body), sd.authz, sd.proof)
	}
	f.Fuzz(func(t *testing.T, route uint8, ctype string, body []byte, authz, proof string) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := rt.path
		all := path + ctype + string(body) + authz + proof
		if strings.Contains(all, "$") {
			k := make([]byte, 32)
			rand.Read(k)
			g, err := s.App.Service.SignIn(context.Background(), fuzzEmail, fuzzPassword,
				auth.Meta{Proof: &auth.Proof{JKT: jkt, Key: k, Expires: s.Clock.Now().Add(time.Minute)}})
			if auth.ErrorCode(err) == auth.CodeInvalidCredentials {
				if _, err := s.App.Service.AdminSetPassword(context.Background(), fuzzEmail, fuzzPassword); err != nil {
					t.Fatal(err)
				}
				g, err = s.App.Service.SignIn(context.Background(), fuzzEmail, fuzzPassword,
					auth.Meta{Proof: &auth.Proof{JKT: jkt, Key: k[:16], Expires: s.Clock.Now().Add(time.Minute)}})
			}
			if err != nil {
				t.Fatal(err)
			}
			r := strings.NewReplacer("$DAT", g.AccessToken, "$DRT", g.RefreshToken, "$SID", g.Session.ID)
			path, ctype, body = r.Replace(path), r.Replace(ctype), []byte(r.Replace(string(body)))
			var o dpop.ProofOptions
			if strings.Contains(authz, "$DAT") {
				o.AccessToken = g.AccessToken
			}
			authz = r.Replace(authz)
			if strings.Contains(proof, "$PROOF") {
				proof = strings.ReplaceAll(proof, "$PROOF", d.proof(t, rt.method, path, o))
			}
			proof = r.Replace(proof)
		}
		req := httptest.NewRequest(rt.method, path, bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s: %d %s", rt.method, rt.path, w.Code, w.Body)
		}
		if w.Code >= 400 {
			var m map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
				t.Fatalf("%s %s: %d error body is not a JSON object: %q", rt.method, rt.path, w.Code, w.Body)
			}
		}
	})
}
