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
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi/canonical"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/store/sqlite"
)

type host struct {
	srv *httptest.Server
	lk  *latchkey.Handler
	db  *sqlite.DB
	now time.Time
}

// mount starts a host server with Latchkey under /auth and a protected
// /api/whoami of its own.
func mount(t *testing.T, mod func(*latchkey.Options)) *host {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	h := &host{db: db, now: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)}
	h.srv = httptest.NewUnstartedServer(nil)
	o := latchkey.Options{
		Store: db, Issuer: "http://" + h.srv.Listener.Addr().String() + "/auth", Prefix: "/auth",
		RefreshSecret: []byte(strings.Repeat("r", 32)), CookieName: "rt", Renew: latchkey.AllowRenewal,
		Now: func() time.Time { return h.now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Hasher: password.New(password.Cheap, 2, 8),
	}
	if mod != nil {
		mod(&o)
	}
	h.lk, err = latchkey.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", h.lk)
	mux.Handle("GET /api/whoami", h.lk.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := latchkey.PrincipalFrom(r.Context())
		json.NewEncoder(w).Encode(map[string]any{"user": p.UserID, "session": p.SessionID, "role": p.Claims.Extra["role"]})
	})))
	h.srv.Config.Handler = mux
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

func (h *host) do(t *testing.T, method, path, body string, headers ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, x := range headers {
		k, v, _ := strings.Cut(x, ": ")
		req.Header.Set(k, v)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &m)
	return resp, m
}

func (h *host) signIn(t *testing.T) (access, refresh string) {
	t.Helper()
	h.do(t, "POST", "/auth/auth/sign-up", `{"email":"ann@example.com","password":"password123"}`)
	resp, m := h.do(t, "POST", "/auth/auth/sign-in", `{"email":"ann@example.com","password":"password123"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in under the prefix: %d %v", resp.StatusCode, m)
	}
	return m["accessToken"].(string), m["refreshToken"].(string)
}

func TestMountedUnderPrefix(t *testing.T) {
	h := mount(t, nil)
	access, _ := h.signIn(t)
	resp, m := h.do(t, "GET", "/api/whoami", "", "Authorization: Bearer "+access)
	if resp.StatusCode != 200 || m["user"] == "" {
		t.Fatalf("host route: %d %v", resp.StatusCode, m)
	}
	// The refresh cookie's path includes the prefix.
	resp, _ = h.do(t, "POST", "/auth/auth/sign-in", `{"email":"ann@example.com","password":"password123"}`)
	if c := resp.Header.Get("Set-Cookie"); !strings.Contains(c, "Path=/auth/api/refresh") || !strings.Contains(c, "HttpOnly") {
		t.Fatalf("cookie: %q", c)
	}
	// The OAuth metadata names the mounted base URL.
	_, md := h.do(t, "GET", "/auth/.well-known/oauth-authorization-server", "")
	if md["issuer"] != h.srv.URL+"/auth" || md["token_endpoint"] != h.srv.URL+"/auth/oauth/token" {
		t.Fatalf("metadata: %v", md)
	}
	if resp, _ := h.do(t, "GET", "/auth/nope", ""); resp.StatusCode != 404 {
		t.Fatalf("unknown route under the prefix: %d", resp.StatusCode)
	}
}

func TestMiddleware(t *testing.T) {
	h := mount(t, nil)
	access, refresh := h.signIn(t)
	if resp, m := h.do(t, "GET", "/api/whoami", "", "Authorization: Bearer "+refresh); resp.StatusCode != 401 || m["error"] != "invalid_token" {
		t.Fatalf("a refresh token on a host route: %d %v", resp.StatusCode, m)
	}
	if resp, _ := h.do(t, "GET", "/api/whoami", ""); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	// In-process, sign-out refuses the host's routes at once.
	if resp, _ := h.do(t, "POST", "/auth/auth/sign-out", "", "Authorization: Bearer "+access); resp.StatusCode != 204 {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	if resp, _ := h.do(t, "GET", "/api/whoami", "", "Authorization: Bearer "+access); resp.StatusCode != 401 {
		t.Fatalf("after sign-out: %d", resp.StatusCode)
	}
	// Expiry with a small leeway.
	access, _ = h.signIn(t)
	h.now = h.now.Add(15*time.Minute + latchkey.AccessLeeway)
	if resp, m := h.do(t, "GET", "/api/whoami", "", "Authorization: Bearer "+access); resp.StatusCode != 401 || m["message"] != "the access token has expired" {
		t.Fatalf("expired: %d %v", resp.StatusCode, m)
	}
}

func TestHooks(t *testing.T) {
	renewals := 0
	h := mount(t, func(o *latchkey.Options) {
		o.Claims = func(ctx context.Context, userID string, _ *auth.User) (map[string]any, error) {
			return map[string]any{"role": "editor", "sub": "forged"}, nil
		}
		o.TokenResponse = func(r *http.Request, kind string, resp canonical.TokenResponse) any {
			return map[string]any{"token": resp.AccessToken, "kind": kind}
		}
		o.Renew = func(ctx context.Context, p auth.Principal) error {
			renewals++
			if renewals > 1 {
				return &auth.Error{Code: auth.CodeInvalidToken, Message: "renewal refused by the application"}
			}
			return nil
		}
	})
	h.do(t, "POST", "/auth/auth/sign-up", `{"email":"ann@example.com","password":"password123"}`)
	resp, m := h.do(t, "POST", "/auth/auth/sign-in", `{"email":"ann@example.com","password":"password123"}`)
	if resp.StatusCode != 200 || m["kind"] != "sign-in" || m["accessToken"] != nil {
		t.Fatalf("reshaped response: %v", m)
	}
	access := m["token"].(string)
	_, who := h.do(t, "GET", "/api/whoami", "", "Authorization: Bearer "+access)
	if who["role"] != "editor" || who["user"] == "forged" {
		t.Fatalf("extra claims: %v", who)
	}
	if resp, m := h.do(t, "POST", "/auth/token/refresh", "", "Authorization: Bearer "+access); resp.StatusCode != 200 || m["kind"] != "renew" {
		t.Fatalf("renewal: %d %v", resp.StatusCode, m)
	}
	if resp, _ := h.do(t, "POST", "/auth/token/refresh", "", "Authorization: Bearer "+access); resp.StatusCode != 401 {
		t.Fatalf("renewal refused by the hook: %d", resp.StatusCode)
	}
}

// Without a renewal hook, POST /token/refresh answers 501 Not Implemented:
// the host does not offer bearer renewal.
func TestNoRenewalIs501(t *testing.T) {
	h := mount(t, func(o *latchkey.Options) { o.Renew = nil })
	access, _ := h.signIn(t)
	if resp, m := h.do(t, "POST", "/auth/token/refresh", "", "Authorization: Bearer "+access); resp.StatusCode != 501 || m["error"] != "not_implemented" {
		t.Fatalf("no renewal hook: %d %v", resp.StatusCode, m)
	}
}

// A separate service that only knows the JWKS URL verifies Latchkey's
// access tokens, fetches again for an unknown kid (a rotation), and bounds
// how often unknown kids make it fetch.
func TestRemoteKeys(t *testing.T) {
	h := mount(t, nil)
	access, _ := h.signIn(t)
	var fetches atomic.Int32
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		h.lk.ServeHTTP(w, r)
	}))
	defer jwks.Close()
	now := h.now
	a := latchkey.NewAuthenticator(latchkey.AuthOptions{Issuer: h.srv.URL + "/auth", Now: func() time.Time { return now },
		Keys: latchkey.RemoteKeys(jwks.URL+"/auth/.well-known/jwks.json", latchkey.RemoteOptions{Now: func() time.Time { return now }})})
	api := httptest.NewServer(a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := latchkey.PrincipalFrom(r.Context())
		io.WriteString(w, p.UserID)
	})))
	defer api.Close()
	get := func(tok string) int {
		req, _ := http.NewRequest("GET", api.URL, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if get(access) != 200 || get(access) != 200 || fetches.Load() != 1 {
		t.Fatalf("one fetch for the first token, cached after: %d", fetches.Load())
	}
	if _, err := h.lk.Tokens.RotateKey(context.Background(), h.db, "ES256"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(11 * time.Second)
	access2, _ := h.signIn(t)
	if get(access2) != 200 || fetches.Load() != 2 {
		t.Fatalf("a new kid must trigger one more fetch: %d", fetches.Load())
	}
	// Made-up kids do not cause a fetch each: at most one per MinInterval.
	forged := strings.Replace(access2, strings.Split(access2, ".")[0], "eyJhbGciOiJFUzI1NiIsImtpZCI6Im5vcGUiLCJ0eXAiOiJhdCtqd3QifQ", 1)
	for range 20 {
		if get(forged) != 401 {
			t.Fatal("a forged kid was accepted")
		}
	}
	if fetches.Load() > 3 {
		t.Fatalf("unknown kids caused %d fetches", fetches.Load())
	}
}
