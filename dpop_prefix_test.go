package latchkey_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/dpop"
)

// Mounted under a prefix, a proof names the external URL with the prefix
// (the issuer's base, RFC 9449 §4.3: the URL the client used); the path
// without it is another URL.
func TestDPoPUnderPrefix(t *testing.T) {
	h := mount(t, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	proof := func(url string) string {
		p, err := dpop.NewProof(key, "POST", url, dpop.ProofOptions{Now: h.now})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cred := `{"email":"p@example.com","password":"password123"}`
	if resp, _ := h.do(t, "POST", "/auth/auth/sign-up", cred); resp.StatusCode != http.StatusCreated {
		t.Fatalf("sign-up: %d", resp.StatusCode)
	}
	resp, body := h.do(t, "POST", "/auth/auth/sign-in", cred, "DPoP: "+proof(h.srv.URL+"/auth/sign-in"))
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" || body["reason"] != "htu" {
		t.Fatalf("proof without the prefix: %d %v", resp.StatusCode, body)
	}
	resp, body = h.do(t, "POST", "/auth/auth/sign-in", cred, "DPoP: "+proof(h.srv.URL+"/auth/auth/sign-in"))
	if resp.StatusCode != http.StatusOK || body["tokenType"] != "DPoP" {
		t.Fatalf("proof with the prefix: %d %v", resp.StatusCode, body)
	}
}

// Options.DPoP must be one of the policies.
func TestDPoPOptionChecked(t *testing.T) {
	h := mount(t, nil)
	for _, bad := range []string{"on", "Required", "maybe"} {
		o := latchkey.Options{Store: h.db, Issuer: "http://localhost", RefreshSecret: []byte(strings.Repeat("r", 32)), DPoP: bad}
		if _, err := latchkey.New(context.Background(), o); err == nil || !strings.Contains(err.Error(), "Options.DPoP") {
			t.Fatalf("New with DPoP %q: %v", bad, err)
		}
	}
}
