package latchkey_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/token"
)

// attack: after a key rotation on instance A, instance B's own routes
// judged A's new access tokens with the keys B had loaded, without the
// reload on an unknown kid that B's Middleware does:
// until B's next periodic reload, GET /auth/me answered 401 (the client signs
// its user out), POST /oauth/introspect answered inactive (a resource server
// refuses the user), and POST /oauth/revoke answered 200 but revoked nothing
// (the user thinks the stolen token is dead).
func TestOwnRoutesFollowKeyRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lk.db")
	a := newAPI(t, openSQLite(t, path), nil)
	b := newAPI(t, openSQLite(t, path), func(o *latchkey.Options) { o.KeyReloadInterval, o.Issuer = -1, a.URL })
	if _, err := a.lk.Tokens.RotateKey(context.Background(), a.st, token.ES256); err != nil {
		t.Fatal(err)
	}
	access := a.signIn(t)

	req, _ := http.NewRequest("GET", b.URL+"/auth/me", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := b.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("B's GET /auth/me with a token of A's new key: %d; want 200", resp.StatusCode)
	}

	resp, err = b.Client().PostForm(b.URL+"/oauth/introspect", url.Values{"token": {access}})
	if err != nil {
		t.Fatal(err)
	}
	var in struct{ Active bool }
	err = json.NewDecoder(resp.Body).Decode(&in)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !in.Active {
		t.Errorf("B's introspection of a token of A's new key: %d active=%v %v; want active", resp.StatusCode, in.Active, err)
	}

	resp, err = b.Client().PostForm(b.URL+"/oauth/revoke", url.Values{"token": {access}, "token_type_hint": {"access_token"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("B's revocation: %d", resp.StatusCode)
	}
	if resp, m := a.get(t, access); resp.StatusCode != 401 || !strings.Contains(m["message"], "revoked") {
		t.Errorf("after B revoked the token, A's middleware: %d %v; want 401, the session revoked", resp.StatusCode, m)
	}
}

// Latchkey's own routes share Middleware's bounded reload: a flood of
// made-up kids through all of them at once (unauthenticated introspection
// and revocation among them) reads the signing keys once per
// UnknownKeyReloadInterval, and each is refused as it was before (401,
// inactive, 200 with nothing revoked).
func TestMadeUpKidsOnOwnRoutesReadKeysOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lk.db")
	a := newAPI(t, openSQLite(t, path), nil)
	bStore := &countingStore{Store: openSQLite(t, path)}
	b := newAPI(t, nil, func(o *latchkey.Options) { o.Store, o.KeyReloadInterval, o.Issuer = bStore, -1, a.URL })
	access := a.signIn(t)
	body := strings.SplitN(access, ".", 2)[1]
	b.clk.Advance(latchkey.UnknownKeyReloadInterval)
	reads := bStore.keyReads.Load()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			forged := b64url(fmt.Sprintf(`{"alg":"ES256","kid":"made-up-%d","typ":"at+jwt"}`, i)) + "." + body
			var resp *http.Response
			var err error
			switch i % 4 {
			case 0, 1:
				path := map[int]string{0: "/auth/me", 1: "/api/whoami"}[i%4]
				req, _ := http.NewRequest("GET", b.URL+path, nil)
				req.Header.Set("Authorization", "Bearer "+forged)
				resp, err = b.Client().Do(req)
			case 2:
				resp, err = b.Client().PostForm(b.URL+"/oauth/introspect", url.Values{"token": {forged}})
			case 3:
				resp, err = b.Client().PostForm(b.URL+"/oauth/revoke", url.Values{"token": {forged}, "token_type_hint": {"access_token"}})
			}
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if want := map[int]int{0: 401, 1: 401, 2: 200, 3: 200}[i%4]; resp.StatusCode != want {
				t.Errorf("made-up kid %d: %d; want %d", i, resp.StatusCode, want)
			}
		}()
	}
	wg.Wait()
	if n := bStore.keyReads.Load() - reads; n != 1 {
		t.Fatalf("200 made-up kids through B's routes read the keys %d times; want 1", n)
	}
	if resp, _ := a.get(t, access); resp.StatusCode != 200 {
		t.Fatalf("the real session after the flood: %d", resp.StatusCode)
	}
}
