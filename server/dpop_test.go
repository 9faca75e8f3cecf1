package server_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/dpop"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/server/servertest"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// The DPoP attack table (RFC 9449) through real HTTP: every refused request
// leaves the session exactly as it was (not revoked, not rotated).

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// dpopSigner makes proofs for one server: htu is base + path, iat the
// server's clock.
type dpopSigner struct {
	base string
	now  func() time.Time
	key  crypto.Signer
}

func (d dpopSigner) proof(t testing.TB, method, path string, o dpop.ProofOptions) string {
	t.Helper()
	if o.Now.IsZero() {
		o.Now = d.now()
	}
	p, err := dpop.NewProof(d.key, method, d.base+path, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// forgeProof signs a proof with any header and claims by key (ES256), or
// with a MAC or nothing for the algorithms that must be refused.
func forgeProof(t testing.TB, key *ecdsa.PrivateKey, head, claims map[string]any) string {
	t.Helper()
	b64 := base64.RawURLEncoding
	h, _ := json.Marshal(head)
	c, _ := json.Marshal(claims)
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	var sig []byte
	switch head["alg"] {
	case "ES256":
		sum := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case "HS256":
		m := hmac.New(sha256.New, []byte("a shared secret of thirty-two by"))
		m.Write([]byte(input))
		sig = m.Sum(nil)
	}
	return input + "." + b64.EncodeToString(sig)
}

func jwkMap(t testing.TB, pub crypto.PublicKey) map[string]any {
	t.Helper()
	raw, err := (&jose.JSONWebKey{Key: pub}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	return m
}

// claimsOf decodes a JWT's payload (unverified: the test's own tokens).
func claimsOf(t testing.TB, tok string) map[string]any {
	t.Helper()
	var m map[string]any
	testkit.Claims(t, tok, &m)
	return m
}

func sessionOf(t testing.TB, st store.Store, accessToken string) store.Session {
	t.Helper()
	sid, _ := claimsOf(t, accessToken)["sid"].(string)
	s, err := st.Session(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type tokenResponse struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	TokenType    string `json:"tokenType"`
}

// dpopSignIn signs email up and in through the canonical API with a proof.
func dpopSignIn(t testing.TB, s *servertest.Server, d dpopSigner, email string) tokenResponse {
	t.Helper()
	s.SignUp(t, email, "password123")
	r := s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": email, "password": "password123"},
		"DPoP: "+d.proof(t, "POST", "/auth/sign-in", dpop.ProofOptions{}))
	if r.Status != http.StatusOK {
		t.Fatalf("sign-in with a proof: %d %s", r.Status, r.Body)
	}
	var tr tokenResponse
	r.JSON(t, &tr)
	return tr
}

func wantDPoPError(t testing.TB, r *servertest.Response, status int, code, reason string) {
	t.Helper()
	m := r.Map(t)
	if r.Status != status || m["error"] != code || (reason != "" && m["reason"] != reason) {
		t.Fatalf("got %d %s; want %d %s (%s)", r.Status, r.Body, status, code, reason)
	}
}

func TestDPoPAttackTable(t *testing.T) {
	s := servertest.Start(t, nil)
	now := s.Clock.Now
	d := dpopSigner{base: s.URL, now: now, key: newKey(t)}
	thief := dpopSigner{base: s.URL, now: now, key: newKey(t)}
	tr := dpopSignIn(t, s, d, "victim@example.com")
	if tr.TokenType != "DPoP" {
		t.Fatalf("tokenType %q", tr.TokenType)
	}
	jkt, _ := dpop.Thumbprint(d.key.Public())
	if cnf, _ := claimsOf(t, tr.AccessToken)["cnf"].(map[string]any); cnf["jkt"] != jkt {
		t.Fatalf("access token cnf = %v, want jkt %s", cnf, jkt)
	}
	st := s.App.Store
	// A good refresh, whose proof the table then replays.
	used := d.proof(t, "POST", "/token", dpop.ProofOptions{})
	r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": tr.RefreshToken}, "DPoP: "+used)
	if r.Status != http.StatusOK {
		t.Fatalf("refresh with the key: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &tr)
	before := sessionOf(t, st, tr.AccessToken)

	head := func(mod func(map[string]any)) map[string]any {
		h := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": jwkMap(t, d.key.Public())}
		if mod != nil {
			mod(h)
		}
		return h
	}
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"jti": rand.Text(), "htm": "POST", "htu": s.URL + "/token", "iat": now().Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	k := d.key.(*ecdsa.PrivateKey)
	privJWK := jwkMap(t, k.Public())
	privJWK["d"] = base64.RawURLEncoding.EncodeToString(k.D.FillBytes(make([]byte, 32)))
	refresh := []struct {
		name, reason string
		proof        string // "" sends no DPoP header
	}{
		{"no proof", "missing", ""},
		{"proof by another key", "key_mismatch", thief.proof(t, "POST", "/token", dpop.ProofOptions{})},
		{"replayed proof", "replay", used},
		{"htm mismatch", "htm", d.proof(t, "GET", "/token", dpop.ProofOptions{})},
		{"another host", "htu", forgeProof(t, k, head(nil), claims(func(c map[string]any) { c["htu"] = "http://evil.example.com/token" }))},
		{"another path", "htu", d.proof(t, "POST", "/oauth/token", dpop.ProofOptions{})},
		{"a query string", "htu", forgeProof(t, k, head(nil), claims(func(c map[string]any) { c["htu"] = s.URL + "/token?x=1" }))},
		{"proof for another route", "htu", d.proof(t, "POST", "/auth/sign-in", dpop.ProofOptions{})},
		{"expired iat", "iat", d.proof(t, "POST", "/token", dpop.ProofOptions{Now: now().Add(-2 * time.Minute)})},
		{"future iat", "iat", d.proof(t, "POST", "/token", dpop.ProofOptions{Now: now().Add(time.Minute)})},
		{"alg none", "alg", forgeProof(t, k, head(func(h map[string]any) { h["alg"] = "none" }), claims(nil))},
		{"alg HS256", "alg", forgeProof(t, k, head(func(h map[string]any) { h["alg"] = "HS256" }), claims(nil))},
		{"unknown alg", "alg", forgeProof(t, k, head(func(h map[string]any) { h["alg"] = "ES512" }), claims(nil))},
		{"jwk carrying d", "jwk", forgeProof(t, k, head(func(h map[string]any) { h["jwk"] = privJWK }), claims(nil))},
		{"wrong typ", "typ", forgeProof(t, k, head(func(h map[string]any) { h["typ"] = "JWT" }), claims(nil))},
		{"bad signature", "signature", forgeProof(t, newKey(t), head(nil), claims(nil))},
	}
	for _, c := range refresh {
		t.Run("refresh/"+c.name, func(t *testing.T) {
			var hdr []string
			if c.proof != "" {
				hdr = append(hdr, "DPoP: "+c.proof)
			}
			r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": tr.RefreshToken}, hdr...)
			wantDPoPError(t, r, http.StatusBadRequest, "invalid_dpop_proof", c.reason)
			if got := sessionOf(t, st, tr.AccessToken); got != before {
				t.Fatalf("session changed:\n got %+v\nwant %+v", got, before)
			}
		})
	}

	// The resource side: /auth/me with the bound access token.
	me := func(hdr ...string) *servertest.Response { return s.Do(t, "GET", "/auth/me", nil, hdr...) }
	ath := dpop.ProofOptions{AccessToken: tr.AccessToken}
	t.Run("resource/bound token as Bearer", func(t *testing.T) {
		r := me("Authorization: Bearer "+tr.AccessToken, "DPoP: "+d.proof(t, "GET", "/auth/me", ath))
		wantDPoPError(t, r, http.StatusUnauthorized, "invalid_token", "")
	})
	t.Run("resource/no proof", func(t *testing.T) {
		r := me("Authorization: DPoP " + tr.AccessToken)
		wantDPoPError(t, r, http.StatusUnauthorized, "invalid_dpop_proof", "missing")
		if ch := r.Header.Values("WWW-Authenticate"); len(ch) != 2 || ch[0] != `Bearer realm="latchkey"` || !strings.HasPrefix(ch[1], `DPoP error="invalid_dpop_proof", algs="ES256 EdDSA PS256 RS256"`) {
			t.Fatalf("WWW-Authenticate %q", ch)
		}
	})
	t.Run("resource/ath mismatch", func(t *testing.T) {
		r := me("Authorization: DPoP "+tr.AccessToken, "DPoP: "+d.proof(t, "GET", "/auth/me", dpop.ProofOptions{AccessToken: "another"}))
		wantDPoPError(t, r, http.StatusUnauthorized, "invalid_dpop_proof", "ath")
	})
	t.Run("resource/no ath", func(t *testing.T) {
		r := me("Authorization: DPoP "+tr.AccessToken, "DPoP: "+d.proof(t, "GET", "/auth/me", dpop.ProofOptions{}))
		wantDPoPError(t, r, http.StatusUnauthorized, "invalid_dpop_proof", "ath")
	})
	t.Run("resource/thief's key", func(t *testing.T) {
		r := me("Authorization: DPoP "+tr.AccessToken, "DPoP: "+thief.proof(t, "GET", "/auth/me", ath))
		wantDPoPError(t, r, http.StatusUnauthorized, "invalid_dpop_proof", "key_mismatch")
	})
	t.Run("resource/proof of another route", func(t *testing.T) {
		r := me("Authorization: DPoP "+tr.AccessToken, "DPoP: "+d.proof(t, "GET", "/auth/sessions", ath))
		wantDPoPError(t, r, http.StatusUnauthorized, "invalid_dpop_proof", "htu")
	})
	t.Run("resource/good proof, then replayed", func(t *testing.T) {
		p := d.proof(t, "GET", "/auth/me", ath)
		if r := me("Authorization: DPoP "+tr.AccessToken, "DPoP: "+p); r.Status != http.StatusOK {
			t.Fatalf("/auth/me with DPoP: %d %s", r.Status, r.Body)
		}
		r := me("Authorization: DPoP "+tr.AccessToken, "DPoP: "+p)
		wantDPoPError(t, r, http.StatusUnauthorized, "invalid_dpop_proof", "replay")
	})
	t.Run("resource/sessions and renewal", func(t *testing.T) {
		r := s.Do(t, "GET", "/auth/sessions", nil, "Authorization: DPoP "+tr.AccessToken, "DPoP: "+d.proof(t, "GET", "/auth/sessions", ath))
		if r.Status != http.StatusOK {
			t.Fatalf("/auth/sessions: %d %s", r.Status, r.Body)
		}
		r = s.Do(t, "POST", "/token/refresh", nil, "Authorization: DPoP "+tr.AccessToken, "DPoP: "+d.proof(t, "POST", "/token/refresh", ath))
		var renewed tokenResponse
		if r.JSON(t, &renewed); r.Status != http.StatusOK || renewed.TokenType != "DPoP" || claimsOf(t, renewed.AccessToken)["cnf"] == nil {
			t.Fatalf("renewal: %d %s", r.Status, r.Body)
		}
	})
	if got := sessionOf(t, st, tr.AccessToken); got != before {
		t.Fatalf("session changed by the resource requests:\n got %+v\nwant %+v", got, before)
	}

	// The key holder still refreshes, and then signs out.
	r = s.Do(t, "POST", "/token", map[string]string{"refreshToken": tr.RefreshToken}, "DPoP: "+d.proof(t, "POST", "/token", dpop.ProofOptions{}))
	if r.Status != http.StatusOK {
		t.Fatalf("refresh after the attacks: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &tr)
	r = s.Do(t, "POST", "/auth/sign-out", nil, "Authorization: DPoP "+tr.AccessToken,
		"DPoP: "+d.proof(t, "POST", "/auth/sign-out", dpop.ProofOptions{AccessToken: tr.AccessToken}))
	if r.Status != http.StatusNoContent {
		t.Fatalf("sign-out with DPoP: %d %s", r.Status, r.Body)
	}
	if !sessionOf(t, st, tr.AccessToken).Revoked() {
		t.Fatal("sign-out did not revoke the session")
	}
	// Every refused refresh was audited, none as reuse.
	logs := s.Logs.String()
	if n := strings.Count(logs, `"event":"refresh.dpop_refused"`); n != len(refresh) {
		t.Fatalf("%d refresh.dpop_refused events, want %d", n, len(refresh))
	}
	if strings.Contains(logs, "reuse_detected") {
		t.Fatal("a refused proof counted as reuse")
	}
	if strings.Contains(logs, used) || strings.Contains(logs, tr.RefreshToken) {
		t.Fatal("a proof or token was logged")
	}
}

// A bearer session stays bearer: a proof on its refresh binds nothing.
func TestDPoPBearerStaysBearer(t *testing.T) {
	s := servertest.Start(t, nil)
	d := dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}
	tk := s.SignIn(t, "bearer@example.com", "password123")
	r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": tk.RefreshToken}, "DPoP: "+d.proof(t, "POST", "/token", dpop.ProofOptions{}))
	var tr tokenResponse
	if r.JSON(t, &tr); r.Status != http.StatusOK || tr.TokenType != "Bearer" || claimsOf(t, tr.AccessToken)["cnf"] != nil {
		t.Fatalf("bearer refresh with a proof: %d %s", r.Status, r.Body)
	}
	if sessionOf(t, s.App.Store, tr.AccessToken).Bound() {
		t.Fatal("bearer session was bound by a refresh")
	}
	// Its access token is refused with the DPoP scheme.
	r = s.Do(t, "GET", "/auth/me", nil, "Authorization: DPoP "+tr.AccessToken,
		"DPoP: "+d.proof(t, "GET", "/auth/me", dpop.ProofOptions{AccessToken: tr.AccessToken}))
	wantDPoPError(t, r, http.StatusUnauthorized, "invalid_token", "")
	if r := s.Do(t, "GET", "/auth/me", nil, "Authorization: Bearer "+tr.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("bearer /auth/me: %d %s", r.Status, r.Body)
	}
}

// DPOP=required refuses token requests without a proof, and DPOP=off
// ignores proofs.
func TestDPoPModes(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.DPoP = "required" })
	r := s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": "r@example.com", "password": "password123"})
	wantDPoPError(t, r, http.StatusBadRequest, "invalid_dpop_proof", "missing")
	if !strings.Contains(r.Map(t)["message"].(string), "DPOP=required") {
		t.Fatalf("the refusal does not name the setting: %s", r.Body)
	}
	d := dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}
	if tr := dpopSignIn(t, s, d, "r@example.com"); tr.TokenType != "DPoP" {
		t.Fatalf("required mode sign-in: %+v", tr)
	}
	r = s.Do(t, "GET", "/.well-known/oauth-authorization-server", nil)
	if algs, _ := r.Map(t)["dpop_signing_alg_values_supported"].([]any); len(algs) != 4 {
		t.Fatalf("metadata: %s", r.Body)
	}

	off := servertest.Start(t, func(c *config.Config) { c.DPoP = "off" })
	d = dpopSigner{base: off.URL, now: off.Clock.Now, key: newKey(t)}
	if tr := dpopSignIn(t, off, d, "o@example.com"); tr.TokenType != "Bearer" {
		t.Fatalf("off mode bound a session: %+v", tr)
	}
	r = off.Do(t, "GET", "/.well-known/oauth-authorization-server", nil)
	if _, ok := r.Map(t)["dpop_signing_alg_values_supported"]; ok {
		t.Fatalf("off mode advertises DPoP: %s", r.Body)
	}
}

// With DPOP_NONCE=on a proof needs the server's nonce: the first request
// is refused with use_dpop_nonce and a DPoP-Nonce header, the retry with
// it succeeds, and a forged or stale nonce is refused the same way.
func TestDPoPNonce(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.DPoPNonce = true })
	d := dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}
	s.SignUp(t, "n@example.com", "password123")
	signIn := func(o dpop.ProofOptions) *servertest.Response {
		return s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": "n@example.com", "password": "password123"},
			"DPoP: "+d.proof(t, "POST", "/auth/sign-in", o))
	}
	r := signIn(dpop.ProofOptions{})
	wantDPoPError(t, r, http.StatusBadRequest, "use_dpop_nonce", "")
	nonce := r.Header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("no DPoP-Nonce with use_dpop_nonce")
	}
	r = signIn(dpop.ProofOptions{Nonce: "forged-nonce-forged-nonce-forged"})
	wantDPoPError(t, r, http.StatusBadRequest, "use_dpop_nonce", "")
	r = signIn(dpop.ProofOptions{Nonce: nonce})
	var tr tokenResponse
	if r.JSON(t, &tr); r.Status != http.StatusOK || tr.TokenType != "DPoP" || r.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("sign-in with the nonce: %d %s", r.Status, r.Body)
	}
	// Ten minutes on (two steps), the nonce is stale: the resource answers
	// 401 with the DPoP challenge's use_dpop_nonce and a fresh nonce.
	s.Clock.Advance(10 * time.Minute)
	r = s.Do(t, "GET", "/auth/me", nil, "Authorization: DPoP "+tr.AccessToken,
		"DPoP: "+d.proof(t, "GET", "/auth/me", dpop.ProofOptions{AccessToken: tr.AccessToken, Nonce: nonce}))
	wantDPoPError(t, r, http.StatusUnauthorized, "use_dpop_nonce", "")
	if ch := r.Header.Values("WWW-Authenticate"); len(ch) != 2 || ch[0] != `Bearer realm="latchkey"` || !strings.HasPrefix(ch[1], `DPoP error="use_dpop_nonce"`) {
		t.Fatalf("WWW-Authenticate %q", ch)
	}
	fresh := r.Header.Get("DPoP-Nonce")
	if fresh == "" || fresh == nonce {
		t.Fatalf("nonce did not rotate: %q", fresh)
	}
	r = s.Do(t, "GET", "/auth/me", nil, "Authorization: DPoP "+tr.AccessToken,
		"DPoP: "+d.proof(t, "GET", "/auth/me", dpop.ProofOptions{AccessToken: tr.AccessToken, Nonce: fresh}))
	if r.Status != http.StatusOK {
		t.Fatalf("/auth/me with the fresh nonce: %d %s", r.Status, r.Body)
	}
	// A refresh with a stale or a forged nonce changes nothing; with the
	// current one it rotates.
	before := sessionOf(t, s.App.Store, tr.AccessToken)
	for _, n := range []string{nonce, "forged-nonce-forged-nonce-forged", ""} {
		r = s.Do(t, "POST", "/token", map[string]string{"refreshToken": tr.RefreshToken},
			"DPoP: "+d.proof(t, "POST", "/token", dpop.ProofOptions{Nonce: n}))
		wantDPoPError(t, r, http.StatusBadRequest, "use_dpop_nonce", "")
		if got := sessionOf(t, s.App.Store, tr.AccessToken); got != before {
			t.Fatalf("nonce %q: session changed:\n got %+v\nwant %+v", n, got, before)
		}
	}
	r = s.Do(t, "POST", "/token", map[string]string{"refreshToken": tr.RefreshToken},
		"DPoP: "+d.proof(t, "POST", "/token", dpop.ProofOptions{Nonce: r.Header.Get("DPoP-Nonce")}))
	if r.Status != http.StatusOK {
		t.Fatalf("refresh with the current nonce: %d %s", r.Status, r.Body)
	}
}

// A proof used at one instance is refused at another instance of the same
// PostgreSQL database: the replay cache is the store's.
func TestDPoPReplayAcrossInstances(t *testing.T) {
	u := pgtest.FreshSchema(t)
	const public = "https://auth.example.com"
	start := func() *servertest.Server {
		return servertest.Start(t, func(c *config.Config) { c.DatabaseURL, c.PublicURL = u, public })
	}
	a, b := start(), start()
	d := dpopSigner{base: public, now: a.Clock.Now, key: newKey(t)}
	tr := dpopSignIn(t, a, d, "two@example.com")
	used := d.proof(t, "POST", "/token", dpop.ProofOptions{})
	r := a.Do(t, "POST", "/token", map[string]string{"refreshToken": tr.RefreshToken}, "DPoP: "+used)
	if r.Status != http.StatusOK {
		t.Fatalf("refresh at A: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &tr)
	before := sessionOf(t, b.App.Store, tr.AccessToken)
	// The new refresh token with the proof A accepted: refused at B.
	r = b.Do(t, "POST", "/token", map[string]string{"refreshToken": tr.RefreshToken}, "DPoP: "+used)
	wantDPoPError(t, r, http.StatusBadRequest, "invalid_dpop_proof", "replay")
	if got := sessionOf(t, b.App.Store, tr.AccessToken); got != before {
		t.Fatalf("session changed:\n got %+v\nwant %+v", got, before)
	}
	// Resource proofs too.
	p := d.proof(t, "GET", "/auth/me", dpop.ProofOptions{AccessToken: tr.AccessToken})
	if r := a.Do(t, "GET", "/auth/me", nil, "Authorization: DPoP "+tr.AccessToken, "DPoP: "+p); r.Status != http.StatusOK {
		t.Fatalf("/auth/me at A: %d %s", r.Status, r.Body)
	}
	r = b.Do(t, "GET", "/auth/me", nil, "Authorization: DPoP "+tr.AccessToken, "DPoP: "+p)
	wantDPoPError(t, r, http.StatusUnauthorized, "invalid_dpop_proof", "replay")
	// B still serves the key holder.
	r = b.Do(t, "POST", "/token", map[string]string{"refreshToken": tr.RefreshToken}, "DPoP: "+d.proof(t, "POST", "/token", dpop.ProofOptions{}))
	if r.Status != http.StatusOK {
		t.Fatalf("refresh at B with a fresh proof: %d %s", r.Status, r.Body)
	}
}
