package latchkey_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/dpop"
)

func newP256(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signInBound signs ann in through the canonical route with a proof by
// key, and returns her access token, bound to key (cnf.jkt).
func (a *api) signInBound(t testing.TB, key crypto.Signer) string {
	t.Helper()
	proof := mustProof(t, key, "POST", a.URL+"/auth/sign-in", dpop.ProofOptions{Now: a.clk.Now()})
	req, _ := http.NewRequest("POST", a.URL+"/auth/sign-in", strings.NewReader(`{"email":"ann@example.com","password":"correct horse"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("DPoP", proof)
	resp, err := a.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct{ AccessToken, TokenType string }
	if err := jsonDecode(resp.Body, &m); err != nil || resp.StatusCode != 200 || m.TokenType != "DPoP" {
		t.Fatalf("sign-in with a proof: %d %v %q", resp.StatusCode, err, m.TokenType)
	}
	jkt, err := dpop.Thumbprint(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if c, err := a.lk.Tokens.VerifyAccess(m.AccessToken); err != nil || c.JKT != jkt {
		t.Fatalf("the access token is not bound: %v %q", err, c.JKT)
	}
	return m.AccessToken
}

// call sends method url with an Authorization header (none when empty) and
// a DPoP header (none when empty), and returns the answer and its body's
// error members (or "body" on success).
func call(t *testing.T, c *http.Client, method, url, authz, proof string) (*http.Response, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	m := map[string]string{}
	if resp.StatusCode != 200 {
		_ = jsonDecode(strings.NewReader(string(raw)), &m)
	} else {
		m["body"] = string(raw)
	}
	return resp, m
}

func mustProof(t testing.TB, key crypto.Signer, method, url string, o dpop.ProofOptions) string {
	t.Helper()
	p, err := dpop.NewProof(key, method, url, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The middleware accepts a DPoP-bound token only with a fresh proof by its
// key for this very request (RFC 9449 §4.3, §7.1), refuses it as Bearer
// (§7.2), and keeps taking bearer tokens as before. Each refusal says why,
// in the body and in the DPoP challenge.
func TestMiddlewareDPoPAttacks(t *testing.T) {
	a := newAPI(t, nil, nil)
	key, other := newP256(t), newP256(t)
	bound := a.signInBound(t, key)
	bearer := a.signIn(t)
	url := a.URL + "/api/whoami"
	now := a.clk.Now()
	proof := func(o dpop.ProofOptions) string {
		if o.Now.IsZero() {
			o.Now = now
		}
		return mustProof(t, key, "GET", url, o)
	}

	good := proof(dpop.ProofOptions{AccessToken: bound})
	resp, m := call(t, a.Client(), "GET", url, "DPoP "+bound, good)
	if resp.StatusCode != 200 || m["body"] != "u-1" {
		t.Fatalf("a bound token with its proof: %d %v", resp.StatusCode, m)
	}
	if resp, m := call(t, a.Client(), "GET", url+"?page=2", "dpop "+bound, proof(dpop.ProofOptions{AccessToken: bound})); resp.StatusCode != 200 {
		t.Errorf("the scheme is case-insensitive and the htu has no query (RFC 9449 §4.3): %d %v", resp.StatusCode, m)
	}
	if resp, m := a.get(t, bearer); resp.StatusCode != 200 || m["body"] != "u-1" {
		t.Errorf("a bearer token without a proof: %d %v", resp.StatusCode, m)
	}

	ed := func() crypto.Signer {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		return k
	}()
	for _, c := range []struct {
		name, authz, proof string
		code, reason       string
	}{
		{"replayed proof", "DPoP " + bound, good, "invalid_dpop_proof", "replay"},
		{"no proof", "DPoP " + bound, "", "invalid_dpop_proof", "missing"},
		{"bound token as Bearer", "Bearer " + bound, "", "invalid_token", "dpop_bound"},
		{"bound token as Bearer with a proof", "Bearer " + bound, proof(dpop.ProofOptions{AccessToken: bound}), "invalid_token", "dpop_bound"},
		{"proof by another key", "DPoP " + bound, mustProof(t, other, "GET", url, dpop.ProofOptions{AccessToken: bound, Now: now}), "invalid_dpop_proof", "key_mismatch"},
		{"proof by another kind of key", "DPoP " + bound, mustProof(t, ed, "GET", url, dpop.ProofOptions{AccessToken: bound, Now: now}), "invalid_dpop_proof", "key_mismatch"},
		{"proof for POST", "DPoP " + bound, mustProof(t, key, "POST", url, dpop.ProofOptions{AccessToken: bound, Now: now}), "invalid_dpop_proof", "htm"},
		{"proof for another path", "DPoP " + bound, mustProof(t, key, "GET", a.URL+"/api/other", dpop.ProofOptions{AccessToken: bound, Now: now}), "invalid_dpop_proof", "htu"},
		{"proof for another host", "DPoP " + bound, mustProof(t, key, "GET", "http://api.example.com/api/whoami", dpop.ProofOptions{AccessToken: bound, Now: now}), "invalid_dpop_proof", "htu"},
		{"proof for another scheme", "DPoP " + bound, mustProof(t, key, "GET", strings.Replace(url, "http:", "https:", 1), dpop.ProofOptions{AccessToken: bound, Now: now}), "invalid_dpop_proof", "htu"},
		{"proof without ath", "DPoP " + bound, proof(dpop.ProofOptions{}), "invalid_dpop_proof", "ath"},
		{"proof for another token", "DPoP " + bound, proof(dpop.ProofOptions{AccessToken: bearer}), "invalid_dpop_proof", "ath"},
		{"expired proof", "DPoP " + bound, proof(dpop.ProofOptions{AccessToken: bound, Now: now.Add(-2 * time.Minute)}), "invalid_dpop_proof", "iat"},
		{"proof from the future", "DPoP " + bound, proof(dpop.ProofOptions{AccessToken: bound, Now: now.Add(time.Minute)}), "invalid_dpop_proof", "iat"},
		{"not a JWT", "DPoP " + bound, "not-a-proof", "invalid_dpop_proof", "malformed"},
		{"bearer token with the DPoP scheme", "DPoP " + bearer, proof(dpop.ProofOptions{AccessToken: bearer}), "invalid_token", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, m := call(t, a.Client(), "GET", url, c.authz, c.proof)
			if resp.StatusCode != 401 || m["error"] != c.code || m["error_reason"] != c.reason {
				t.Fatalf("%d %v; want 401 %s (%s)", resp.StatusCode, m, c.code, c.reason)
			}
			ch := resp.Header.Values("WWW-Authenticate")
			wantDPoP := `DPoP algs="ES256 EdDSA PS256 RS256"`
			switch {
			case c.code == "invalid_dpop_proof":
				wantDPoP = `DPoP error="invalid_dpop_proof", algs="ES256 EdDSA PS256 RS256"`
			case c.reason == "":
				wantDPoP = `DPoP error="invalid_token", algs="ES256 EdDSA PS256 RS256"`
			}
			if len(ch) != 2 || !strings.HasPrefix(ch[0], "Bearer") || ch[1] != wantDPoP {
				t.Errorf("challenges %q; want Bearer and %s", ch, wantDPoP)
			}
		})
	}
	if strings.Contains(a.log.String(), bound) || strings.Contains(a.log.String(), good) {
		t.Error("a token or a proof was logged")
	}

	// Two proofs sent at once are no proof (RFC 9449 §4.3 point 1).
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "DPoP "+bound)
	req.Header.Add("DPoP", proof(dpop.ProofOptions{AccessToken: bound}))
	req.Header.Add("DPoP", proof(dpop.ProofOptions{AccessToken: bound}))
	resp, err := a.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("two DPoP headers: %d; want 401", resp.StatusCode)
	}

	// No token at all: both schemes are offered.
	resp, m = call(t, a.Client(), "GET", url, "", "")
	if ch := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || len(ch) != 2 || ch[0] != "Bearer" ||
		ch[1] != `DPoP algs="ES256 EdDSA PS256 RS256"` {
		t.Errorf("no token: %d %v %q", resp.StatusCode, m, ch)
	}
	// An expired bound token is invalid_token, whichever scheme names it.
	a.clk.Advance(15*time.Minute + latchkey.AccessLeeway)
	resp, m = call(t, a.Client(), "GET", url, "DPoP "+bound, mustProof(t, key, "GET", url, dpop.ProofOptions{AccessToken: bound, Now: a.clk.Now()}))
	if ch := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || m["error"] != "invalid_token" || len(ch) != 2 ||
		!strings.HasPrefix(ch[1], `DPoP error="invalid_token"`) {
		t.Errorf("expired bound token: %d %v %q", resp.StatusCode, m, ch)
	}
}

// Behind a proxy that changes the scheme, host and path, proofs name the
// URL the client called: MiddlewareDPoP.ExternalURL; a proof naming the
// URL the request reached the host at is refused.
func TestMiddlewareDPoPExternalURL(t *testing.T) {
	a := newAPI(t, nil, func(o *latchkey.Options) {
		o.MiddlewareDPoP = latchkey.DPoPOptions{ExternalURL: "https://api.example.com/v1/"}
	})
	key := newP256(t)
	bound := a.signInBound(t, key)
	now := a.clk.Now()
	external := mustProof(t, key, "GET", "https://API.example.com:443/v1/api/whoami", dpop.ProofOptions{AccessToken: bound, Now: now})
	if resp, m := call(t, a.Client(), "GET", a.URL+"/api/whoami", "DPoP "+bound, external); resp.StatusCode != 200 {
		t.Errorf("a proof of the external URL: %d %v", resp.StatusCode, m)
	}
	internal := mustProof(t, key, "GET", a.URL+"/api/whoami", dpop.ProofOptions{AccessToken: bound, Now: now})
	if resp, m := call(t, a.Client(), "GET", a.URL+"/api/whoami", "DPoP "+bound, internal); resp.StatusCode != 401 || m["error_reason"] != "htu" {
		t.Errorf("a proof of the internal URL: %d %v; want 401 htu", resp.StatusCode, m)
	}
}

// A resource with nonces (RFC 9449 §9) sends the current one on every
// answer and refuses a proof without it with use_dpop_nonce; the proof
// that carries it passes. A service that verifies with the JWKS URL alone
// (NewAuthenticator) checks bound tokens the same way.
func TestMiddlewareDPoPNonces(t *testing.T) {
	a := newAPI(t, nil, nil)
	nonces, err := dpop.NewNonces([]byte(strings.Repeat("n", 32)), 0, a.clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	authn := latchkey.NewAuthenticator(latchkey.AuthOptions{Issuer: a.lk.Tokens.Issuer(), Now: a.clk.Now,
		Keys:   latchkey.RemoteKeys(a.URL+"/.well-known/jwks.json", latchkey.RemoteOptions{Now: a.clk.Now}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DPoP: latchkey.DPoPOptions{Nonces: nonces}})
	svc := httptest.NewServer(authn.Middleware(http.HandlerFunc(whoami)))
	t.Cleanup(svc.Close)
	key := newP256(t)
	bound := a.signInBound(t, key)
	url := svc.URL + "/things"

	resp, m := call(t, svc.Client(), "GET", url, "DPoP "+bound, mustProof(t, key, "GET", url, dpop.ProofOptions{AccessToken: bound, Now: a.clk.Now()}))
	nonce := resp.Header.Get("DPoP-Nonce")
	if ch := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || m["error"] != "use_dpop_nonce" || nonce != nonces.Current() ||
		len(ch) != 2 || !strings.HasPrefix(ch[1], `DPoP error="use_dpop_nonce"`) {
		t.Fatalf("a proof without the nonce: %d %v nonce %q challenges %q", resp.StatusCode, m, nonce, ch)
	}
	resp, m = call(t, svc.Client(), "GET", url, "DPoP "+bound, mustProof(t, key, "GET", url, dpop.ProofOptions{AccessToken: bound, Now: a.clk.Now(), Nonce: nonce}))
	if resp.StatusCode != 200 || m["body"] != "u-1" || resp.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("a proof with the nonce: %d %v", resp.StatusCode, m)
	}
	resp, m = call(t, svc.Client(), "GET", url, "DPoP "+bound, mustProof(t, key, "GET", url, dpop.ProofOptions{AccessToken: bound, Now: a.clk.Now(), Nonce: "forged"}))
	if resp.StatusCode != 401 || m["error"] != "use_dpop_nonce" {
		t.Errorf("a forged nonce: %d %v", resp.StatusCode, m)
	}
	// A bearer token needs neither proof nor nonce.
	if resp, m := call(t, svc.Client(), "GET", url, "Bearer "+a.signIn(t), ""); resp.StatusCode != 200 {
		t.Errorf("bearer: %d %v", resp.StatusCode, m)
	}
}

// The in-memory replay cache is bounded: when it is full a new proof is
// answered 503 (retry later), not accepted unremembered nor refused as
// invalid.
func TestMiddlewareDPoPReplayCacheFull(t *testing.T) {
	a := newAPI(t, nil, func(o *latchkey.Options) { o.MiddlewareDPoP = latchkey.DPoPOptions{ReplayMax: 1} })
	key := newP256(t)
	bound := a.signInBound(t, key)
	url := a.URL + "/api/whoami"
	send := func() (*http.Response, map[string]string) {
		return call(t, a.Client(), "GET", url, "DPoP "+bound, mustProof(t, key, "GET", url, dpop.ProofOptions{AccessToken: bound, Now: a.clk.Now()}))
	}
	if resp, m := send(); resp.StatusCode != 200 {
		t.Fatalf("first: %d %v", resp.StatusCode, m)
	}
	if resp, m := send(); resp.StatusCode != 503 || m["error"] != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("full: %d %v; want 503 with Retry-After", resp.StatusCode, m)
	}
	// Once the first proof's window is over its place is free again.
	a.clk.Advance(dpop.DefaultLifetime + dpop.DefaultLeeway + time.Second)
	if resp, m := send(); resp.StatusCode != 200 {
		t.Errorf("after the window: %d %v", resp.StatusCode, m)
	}
}

// FuzzMiddlewareDPoP sends arbitrary Authorization and DPoP headers and
// methods through the middleware. In any input, $BOUND is a token bound to
// the fuzzer's key, $BEARER a bearer token, and $PROOF a valid proof of that
// key for the request (with $BOUND's ath). It must never answer other than
// 200 or 401 (no 5xx, no panic), every refusal is a JSON object with an
// error, and 200 comes only for a token with what it needs: a bearer token
// as Bearer, or the bound one as DPoP with a proof (either scheme in any
// case).
func FuzzMiddlewareDPoP(f *testing.F) {
	a := newAPI(f, nil, nil)
	key := newP256(f)
	bound := a.signInBound(f, key)
	bearer := a.signIn(f)
	for _, s := range [][3]string{
		{"GET", "DPoP $BOUND", "$PROOF"},
		{"GET", "Bearer $BOUND", "$PROOF"},
		{"GET", "DPoP $BOUND", ""},
		{"GET", "DPoP $BEARER", "$PROOF"},
		{"GET", "Bearer $BEARER", ""},
		{"POST", "DPoP $BOUND", "$PROOF"},
		{"GET", "dpop   $BOUND", "$PROOF.x"},
		{"GET", "DPoP $BOUND", "e30.e30.e30"},
		{"GET", "DPoP $BOUND", "$PROOF, $PROOF"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	url := a.URL + "/api/whoami"
	f.Fuzz(func(t *testing.T, method, authz, proof string) {
		if method != "GET" && method != "POST" {
			method = "GET"
		}
		authz = strings.NewReplacer("$BOUND", bound, "$BEARER", bearer).Replace(authz)
		if strings.Contains(proof, "$PROOF") {
			p, err := dpop.NewProof(key, method, url, dpop.ProofOptions{AccessToken: bound, Now: a.clk.Now()})
			if err != nil {
				t.Fatal(err)
			}
			proof = strings.ReplaceAll(proof, "$PROOF", p)
		}
		req := httptest.NewRequest(method, url, nil)
		if !validHeader(authz) || !validHeader(proof) {
			return
		}
		req.Header.Set("Authorization", authz)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		rec := httptest.NewRecorder()
		a.lk.Middleware(http.HandlerFunc(whoami)).ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			// The scheme is matched without regard to case (RFC 9110
			// §11.1), and spaces around the credential are not part of it.
			scheme, cred, _ := strings.Cut(strings.TrimSpace(authz), " ")
			cred = strings.TrimLeft(cred, " ")
			ok := strings.EqualFold(scheme, "Bearer") && cred == bearer ||
				strings.EqualFold(scheme, "DPoP") && cred == bound && proof != ""
			if !ok {
				t.Fatalf("200 for %q with proof %q", authz, proof)
			}
		case http.StatusUnauthorized:
			var m map[string]string
			if err := jsonDecode(rec.Body, &m); err != nil || m["error"] == "" {
				t.Fatalf("401 body %q", rec.Body.String())
			}
		default:
			t.Fatalf("status %d for %q with proof %q: %s", rec.Code, authz, proof, rec.Body.String())
		}
	})
}

// validHeader reports whether s can be sent as a header value.
func validHeader(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// BenchmarkMiddleware is what the middleware costs a request of the host's
// API, through Handler.Middleware (which also reads the session): with a
// bearer token, and with a DPoP-bound token and its proof (the proof's
// signature check and the replay cache on top). The proofs are made before
// the timer starts.
func BenchmarkMiddleware(b *testing.B) {
	a := newAPI(b, nil, func(o *latchkey.Options) { o.MiddlewareDPoP = latchkey.DPoPOptions{ReplayMax: 1 << 30} })
	key := newP256(b)
	bound := a.signInBound(b, key)
	bearer := a.signIn(b)
	url := a.URL + "/api/whoami"
	h := a.lk.Middleware(http.HandlerFunc(whoami))
	run := func(b *testing.B, authz string, proofs []string) {
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			req := httptest.NewRequest("GET", url, nil)
			req.Header.Set("Authorization", authz)
			if proofs != nil {
				req.Header.Set("DPoP", proofs[i])
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	}
	b.Run("Bearer", func(b *testing.B) { run(b, "Bearer "+bearer, nil) })
	b.Run("DPoP", func(b *testing.B) {
		proofs := make([]string, b.N)
		for i := range proofs {
			proofs[i] = mustProof(b, key, "GET", url, dpop.ProofOptions{AccessToken: bound, Now: a.clk.Now()})
		}
		run(b, "DPoP "+bound, proofs)
	})
}
