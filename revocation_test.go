package latchkey_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/ssf"
	"github.com/latchkey-dev/latchkey/ssf/receiver"
	"github.com/latchkey-dev/latchkey/store/sqlite"
)

// An application embeds Latchkey with the SSF transmitter under /auth
// (docs/embedding.md), and a separate API verifies its tokens with only the
// JWKS and a receiver credential: a signed-out session's access token, still
// unexpired, is refused by the API's Middleware with 401 invalid_token,
// error_reason session_revoked.
func TestMiddlewareRefusesRevokedSessions(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	authSrv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + authSrv.Listener.Addr().String() + "/auth"
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	lk, err := latchkey.New(ctx, latchkey.Options{Store: db, Issuer: issuer, Prefix: "/auth",
		RefreshSecret: []byte(strings.Repeat("r", 32)), Logger: quiet, Hasher: password.New(password.Cheap, 2, 8)})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ssf.New(ssf.Options{Feed: db, Tokens: lk.Tokens, Issuer: issuer, AllowLoopback: true,
		WatchInterval: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// The dialects and the transmitter share one mux, behind Latchkey's
	// middleware, under the prefix.
	mux := http.NewServeMux()
	lk.Register(mux)
	tr.Register(mux)
	mux.Handle("/", latchkey.NotFound())
	authSrv.Config.Handler = http.StripPrefix("/auth", lk.Wrap(mux))
	authSrv.Start()
	defer authSrv.Close()
	tr.Start()
	defer tr.Close()

	_, cred, err := ssf.CreateReceiver(ctx, db, "api", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := receiver.Start(ctx, receiver.Options{Issuer: issuer, Credential: cred, Name: "api-1",
		PollInterval: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	select {
	case <-rcv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver was not ready")
	}
	a := latchkey.NewAuthenticator(latchkey.AuthOptions{Issuer: issuer,
		Keys: latchkey.RemoteKeys(issuer+"/.well-known/jwks.json", latchkey.RemoteOptions{}), Revoked: rcv.Revoked})
	api := httptest.NewServer(a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})))
	defer api.Close()

	post := func(path, body, token string) int {
		req, _ := http.NewRequest("POST", authSrv.URL+"/auth"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	post("/auth/sign-up", `{"email":"ann@example.com","password":"password123"}`, "")
	req, _ := http.NewRequest("POST", authSrv.URL+"/auth/auth/sign-in", strings.NewReader(`{"email":"ann@example.com","password":"password123"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tk struct {
		AccessToken string `json:"accessToken"`
	}
	json.NewDecoder(resp.Body).Decode(&tk)
	resp.Body.Close()
	call := func() (int, map[string]string) {
		req, _ := http.NewRequest("GET", api.URL, nil)
		req.Header.Set("Authorization", "Bearer "+tk.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if status, body := call(); status != http.StatusOK {
		t.Fatalf("the API refused a live session: %d %v", status, body)
	}
	if status := post("/auth/sign-out", `{"scope":"local"}`, tk.AccessToken); status != http.StatusNoContent {
		t.Fatalf("sign-out: %d", status)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body := call()
		if status == http.StatusUnauthorized {
			if body["error"] != "invalid_token" || body["error_reason"] != "session_revoked" {
				t.Errorf("refusal body %v, want invalid_token with error_reason session_revoked", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the API still accepts a signed-out session's access token")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
