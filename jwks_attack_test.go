package latchkey_test

import (
	"context"
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
