package latchkey_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/token"
)

// attack: a JWKS URL on https that redirects to plain http (a proxy that
// terminates TLS and builds its redirects from the scheme it sees) made
// RemoteKeys fetch the keys over plain http and trust them: anyone on that
// path could publish a key of their own and sign any token.
func TestRemoteKeysRefuseRedirectToPlainHTTP(t *testing.T) {
	clk := testkit.NewClock(jwksT0)
	plain := newJWKSServer(t, clk) // http://
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/.well-known/jwks.json", http.StatusFound)
	}))
	defer secure.Close()
	keys := latchkey.RemoteKeys(secure.URL+"/.well-known/jwks.json", latchkey.RemoteOptions{Now: clk.Now, Client: secure.Client()})
	_, err := keys(context.Background(), plain.iss.ActiveKeyID())
	if !errors.Is(err, token.ErrKeysUnavailable) {
		t.Errorf("keys from an https JWKS URL redirected to http: %v; want token.ErrKeysUnavailable", err)
	}
	if n := plain.fetches.Load(); n != 0 {
		t.Errorf("the plain-http JWKS was fetched %d times; want 0", n)
	}
}

// attack: one key RemoteKeys cannot read (a key type it does not know, as
// a newer issuer may publish beside its usual keys; a malformed entry) made
// the whole JWKS document fail to decode, so every token was refused as
// "keys unavailable". RFC 7517 §5: implementations SHOULD ignore keys whose
// kty they do not understand, that miss required members, or whose values
// are out of range.
func TestRemoteKeysSkipUnreadableKeys(t *testing.T) {
	clk := testkit.NewClock(jwksT0)
	issuer := newJWKSServer(t, clk)
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(issuer.iss.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(map[string]any{"keys": []json.RawMessage{
		json.RawMessage(`{"kty":"AKP","alg":"ML-DSA-44","use":"sig","kid":"pq-1","pub":"AAAA"}`),
		json.RawMessage(`{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA","use":"sig","kid":"broken","alg":"ES256"}`),
		set.Keys[0],
	}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(doc) }))
	defer srv.Close()
	keys := latchkey.RemoteKeys(srv.URL, latchkey.RemoteOptions{Now: clk.Now})
	if _, err := keys(context.Background(), issuer.iss.ActiveKeyID()); err != nil {
		t.Errorf("a JWKS with one key of an unknown type and one malformed key beside a good one: %v; want the good key", err)
	}
	if _, err := keys(context.Background(), "broken"); !errors.Is(err, token.ErrUnknownKey) {
		t.Errorf("the malformed key: %v; want token.ErrUnknownKey", err)
	}
}

// attack: RemoteOptions.MinInterval written without its unit
// (MinInterval: 10, meaning seconds, is 10 ns) brought back the refetch
// storm that MinInterval exists to prevent: every lookup of an unknown kid against a failing JWKS
// fetched it again.
func TestRemoteKeysMinIntervalWithoutUnit(t *testing.T) {
	s := newJWKSServer(t, testkit.NewClock(jwksT0))
	s.mode.Store("fail")
	keys := latchkey.RemoteKeys(s.URL, latchkey.RemoteOptions{MinInterval: 10}) // the real clock
	for range 100 {
		if _, err := keys(context.Background(), "made-up"); !errors.Is(err, token.ErrKeysUnavailable) {
			t.Fatalf("lookup: %v", err)
		}
	}
	if n := s.fetches.Load(); n > 1 {
		t.Errorf("100 lookups with MinInterval 10ns: %d fetches; want 1 (the least interval is not nanoseconds)", n)
	}
}
