package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/client"
	"github.com/latchkey-dev/latchkey/dpop"
	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

// hostAPI is an application's own API behind latchkey's Middleware, which
// knows the issuer only by its JWKS URL: GET /things answers the user id.
// It records the last request's Authorization and DPoP headers, as a
// network eavesdropper (or a log) would.
type hostAPI struct {
	*httptest.Server
	mu          sync.Mutex
	authz, prof string
}

func startHostAPI(t *testing.T, issuer string, dp latchkey.DPoPOptions) *hostAPI {
	t.Helper()
	a := latchkey.NewAuthenticator(latchkey.AuthOptions{Issuer: issuer,
		Keys:   latchkey.RemoteKeys(issuer+"/.well-known/jwks.json", latchkey.RemoteOptions{}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DPoP: dp})
	h := &hostAPI{}
	things := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := latchkey.PrincipalFrom(r.Context())
		fmt.Fprint(w, p.UserID)
	}))
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.authz, h.prof = r.Header.Get("Authorization"), r.Header.Get("DPoP")
		h.mu.Unlock()
		things.ServeHTTP(w, r)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hostAPI) overheard() (authz, proof string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.authz, h.prof
}

// send sends GET /things with the given headers and returns the status and
// the body's error_reason (or the body on success).
func (h *hostAPI) send(t *testing.T, authz, proof string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", h.URL+"/things", nil)
	req.Header.Set("Authorization", authz)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, string(raw)
	}
	var b struct {
		Error  string `json:"error"`
		Reason string `json:"error_reason"`
	}
	_ = json.Unmarshal(raw, &b)
	return resp.StatusCode, b.Error + "/" + b.Reason
}

// The Go client and the Go middleware, end to end with a real `latchkey
// serve`: the client binds its session to its key, the host API accepts its
// DPoP-bound token with the client's proofs, and refuses the same token
// replayed by anyone without the key: with the overheard proof, with a
// proof of their own key, as Bearer, or through a Go client given the
// stolen tokens.
func TestDPoPGoClientAndMiddleware(t *testing.T) {
	for _, nonce := range []string{"off", "on"} {
		t.Run("DPOP_NONCE="+nonce, func(t *testing.T) {
			srv := e2etest.StartServer(t, map[string]string{"DPOP_NONCE": nonce})
			var nonces *dpop.Nonces
			if nonce == "on" {
				// The host API asks for nonces of its own (RFC 9449 §9).
				var err error
				if nonces, err = dpop.NewNonces([]byte(strings.Repeat("h", 32)), 0, nil); err != nil {
					t.Fatal(err)
				}
			}
			api := startHostAPI(t, srv.URL, latchkey.DPoPOptions{Nonces: nonces})
			ctx := t.Context()
			c, err := client.New(srv.URL, client.WithDPoP(nil))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.SignUp(ctx, "go-dpop@example.com", "correct horse battery staple"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.SignIn(ctx, "go-dpop@example.com", "correct horse battery staple"); err != nil {
				t.Fatal(err)
			}
			if got := c.Tokens().TokenType; got != "DPoP" {
				t.Fatalf("token type %q; want DPoP", got)
			}
			hc := &http.Client{Transport: c.Transport(nil)}
			get := func() (int, string) {
				resp, err := hc.Get(api.URL + "/things")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				raw, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(raw)
			}
			me, err := c.Me(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				if st, body := get(); st != http.StatusOK || body != me.ID {
					t.Fatalf("call %d through the client's Transport: %d %q; want 200 %s", i, st, body, me.ID)
				}
			}
			if _, err := c.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			if st, body := get(); st != http.StatusOK || body != me.ID {
				t.Fatalf("after a refresh: %d %q", st, body)
			}

			// What went over the wire, replayed without the key.
			authz, proof := api.overheard()
			at := strings.TrimPrefix(authz, "DPoP ")
			if !strings.HasPrefix(authz, "DPoP ") || proof == "" {
				t.Fatalf("the client sent %q and a proof %v", authz[:min(len(authz), 10)], proof != "")
			}
			other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			hostNonce := ""
			if nonces != nil {
				hostNonce = nonces.Current()
			}
			own, err := dpop.NewProof(other, "GET", api.URL+"/things", dpop.ProofOptions{AccessToken: at, Nonce: hostNonce})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct{ name, authz, proof, want string }{
				{"the overheard proof", authz, proof, "invalid_dpop_proof/replay"},
				{"a proof by another key", authz, own, "invalid_dpop_proof/key_mismatch"},
				{"no proof", authz, "", "invalid_dpop_proof/missing"},
				{"as Bearer", "Bearer " + at, "", "invalid_token/dpop_bound"},
			} {
				if st, got := api.send(t, c.authz, c.proof); st != http.StatusUnauthorized || got != c.want {
					t.Errorf("the token with %s: %d %s; want 401 %s", c.name, st, got, c.want)
				}
			}

			// A Go client given the stolen tokens but not the key: the
			// access token is refused, and so is the refresh, for good.
			stolen := c.Tokens()
			stolen.TokenType = "Bearer"
			thief, err := client.New(srv.URL, client.WithTokens(stolen))
			if err != nil {
				t.Fatal(err)
			}
			// Refused as Bearer, its Transport refreshes, which the server
			// refuses without a proof by the key: sign in again.
			resp, err := (&http.Client{Transport: thief.Transport(nil)}).Get(api.URL + "/things")
			if err == nil {
				resp.Body.Close()
			}
			if !client.IsReauthRequired(err) {
				t.Errorf("the thief's call: %v; want an error saying sign in again", err)
			}
			// The victim's session is untouched.
			if st, body := get(); st != http.StatusOK || body != me.ID {
				t.Fatalf("the key holder after the thief: %d %q", st, body)
			}
			if _, err := c.Refresh(ctx); err != nil {
				t.Fatalf("the key holder's refresh after the thief: %v", err)
			}
		})
	}
}
