package latchkey_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/dpop"
)

// A proof by another key than the token's is refused before the replay
// cache is asked: with room for one proof, a stream of proofs by a thief's
// key leaves that room to the key holder.
func TestMiddlewareDPoPMismatchTakesNoReplaySlot(t *testing.T) {
	a := newAPI(t, nil, func(o *latchkey.Options) { o.MiddlewareDPoP = latchkey.DPoPOptions{ReplayMax: 1} })
	key, thief := newP256(t), newP256(t)
	bound := a.signInBound(t, key)
	url := a.URL + "/api/whoami"
	for i := range 3 {
		p := mustProof(t, thief, "GET", url, dpop.ProofOptions{AccessToken: bound, Now: a.clk.Now()})
		if resp, m := call(t, a.Client(), "GET", url, "DPoP "+bound, p); resp.StatusCode != 401 || m["error_reason"] != "key_mismatch" {
			t.Fatalf("thief's proof %d: %d %v", i, resp.StatusCode, m)
		}
	}
	p := mustProof(t, key, "GET", url, dpop.ProofOptions{AccessToken: bound, Now: a.clk.Now()})
	if resp, m := call(t, a.Client(), "GET", url, "DPoP "+bound, p); resp.StatusCode != 200 {
		t.Fatalf("the key holder after the thief: %d %v", resp.StatusCode, m)
	}
}

// DPoPOptions.Algs narrows what the middleware accepts, and its challenges
// list exactly that.
func TestMiddlewareDPoPAlgsSubset(t *testing.T) {
	a := newAPI(t, nil, func(o *latchkey.Options) { o.MiddlewareDPoP = latchkey.DPoPOptions{Algs: []string{dpop.EdDSA}} })
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	es := newP256(t)
	url := a.URL + "/api/whoami"
	// An ES256 key binds the token (token routes accept every algorithm),
	// but the middleware accepts EdDSA proofs only.
	bound := a.signInBound(t, es)
	resp, m := call(t, a.Client(), "GET", url, "DPoP "+bound, mustProof(t, es, "GET", url, dpop.ProofOptions{AccessToken: bound, Now: a.clk.Now()}))
	if ch := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || m["error_reason"] != "alg" || len(ch) != 2 ||
		ch[1] != `DPoP error="invalid_dpop_proof", algs="EdDSA"` {
		t.Fatalf("ES256 proof: %d %v %q", resp.StatusCode, m, ch)
	}
	bound = a.signInBound(t, ed)
	if resp, m := call(t, a.Client(), "GET", url, "DPoP "+bound, mustProof(t, ed, "GET", url, dpop.ProofOptions{AccessToken: bound, Now: a.clk.Now()})); resp.StatusCode != 200 {
		t.Fatalf("EdDSA proof: %d %v", resp.StatusCode, m)
	}
	resp, _ = call(t, a.Client(), "GET", url, "", "")
	if ch := resp.Header.Values("WWW-Authenticate"); len(ch) != 2 || ch[1] != `DPoP algs="EdDSA"` {
		t.Errorf("no token: %q", ch)
	}
}

// An algorithm in DPoPOptions.Algs that no proof can use (a MAC, "none",
// a misspelling) is a mistake New reports: left alone it is silently
// dropped, and a list of nothing else refuses every bound token with a
// challenge offering no algorithm (algs="").
func TestMiddlewareDPoPUnknownAlgsRefusedByNew(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "lk.db"))
	for _, algs := range [][]string{{"HS256"}, {"none"}, {"es256"}, {dpop.ES256, "HS256"}} {
		o := latchkey.Options{Store: st, Issuer: "http://127.0.0.1", RefreshSecret: []byte(strings.Repeat("r", 32)),
			MiddlewareDPoP: latchkey.DPoPOptions{Algs: algs}}
		lk, err := latchkey.New(context.Background(), o)
		if err == nil {
			lk.Close()
			t.Errorf("Algs %q: New accepted them", algs)
		} else if !strings.Contains(err.Error(), "Algs") {
			t.Errorf("Algs %q: %v does not name the option", algs, err)
		}
	}
}
