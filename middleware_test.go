package latchkey_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/sqlite"
	"github.com/latchkey-dev/latchkey/token"
)

// failingUsers are the application's own users (appUsers) whose UserByID
// fails with err while err is set: the application's database in trouble.
type failingUsers struct {
	appUsers
	err atomic.Pointer[error]
}

func (u *failingUsers) UserByID(ctx context.Context, id string) (store.User, error) {
	if e := u.err.Load(); e != nil {
		return store.User{}, *e
	}
	return u.appUsers.UserByID(ctx, id)
}

// api is a host server: Latchkey at the root (its routes as in api.md) and
// GET /api/whoami behind the middleware.
type api struct {
	*httptest.Server
	lk    *latchkey.Handler
	st    *sqlite.DB
	clk   *testkit.Clock
	log   *testkit.Buffer
	users *failingUsers
}

func newAPI(t testing.TB, st *sqlite.DB, mod func(*latchkey.Options)) *api {
	t.Helper()
	ctx := context.Background()
	if st == nil {
		st = openSQLite(t, filepath.Join(t.TempDir(), "lk.db"))
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	a := &api{st: st, clk: testkit.NewClock(time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)), log: &testkit.Buffer{},
		users: &failingUsers{appUsers: appUsers{"ann@example.com": {ID: "u-1", Email: "ann@example.com", PasswordHash: string(hash), Status: store.UserActive}}}}
	a.Server = httptest.NewUnstartedServer(nil)
	o := latchkey.Options{Store: st, Users: a.users, Issuer: "http://" + a.Listener.Addr().String(),
		RefreshSecret: []byte(strings.Repeat("r", 32)), Now: a.clk.Now, Hasher: password.New(password.Cheap, 2, 8),
		Logger: slog.New(slog.NewTextHandler(a.log, nil))}
	if mod != nil {
		mod(&o)
	}
	var err error
	if a.lk, err = latchkey.New(ctx, o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.lk.Close() })
	mux := http.NewServeMux()
	mux.Handle("/", a.lk)
	mux.Handle("GET /api/whoami", a.lk.Middleware(http.HandlerFunc(whoami)))
	a.Config.Handler = mux
	a.Start()
	t.Cleanup(a.Close)
	return a
}

func whoami(w http.ResponseWriter, r *http.Request) {
	p, _ := latchkey.PrincipalFrom(r.Context())
	fmt.Fprint(w, p.UserID)
}

func openSQLite(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// signIn signs ann in through the canonical route and returns her access
// token.
func (a *api) signIn(t testing.TB) string {
	t.Helper()
	resp, err := a.Client().Post(a.URL+"/auth/sign-in", "application/json", strings.NewReader(`{"email":"ann@example.com","password":"correct horse"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct{ AccessToken string }
	if err := jsonDecode(resp.Body, &m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d %v", resp.StatusCode, err)
	}
	return m.AccessToken
}

// get calls GET /api/whoami with the access token (none when empty).
func (a *api) get(t *testing.T, access string) (*http.Response, map[string]string) {
	t.Helper()
	return getWith(t, a.Client(), a.URL+"/api/whoami", access)
}

func getWith(t *testing.T, c *http.Client, url, access string) (*http.Response, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if access != "" {
		req.Header.Set("Authorization", "Bearer "+access)
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

// Middleware answers 401 only when the token, its session or its user is
// not good; a failure to check (the application's users or the database
// unavailable) is 503 with Retry-After, and any other failure 500 with the
// cause logged: a client told 401 signs its user out.
func TestMiddlewareStatuses(t *testing.T) {
	a := newAPI(t, nil, nil)
	access := a.signIn(t)
	if resp, m := a.get(t, access); resp.StatusCode != 200 || m["body"] != "u-1" {
		t.Fatalf("control: %d %v", resp.StatusCode, m)
	}

	resp, m := a.get(t, "")
	if resp.StatusCode != 401 || m["error"] != "invalid_token" || resp.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("no token: %d %v %q; want 401 and a challenge without an error code", resp.StatusCode, m, resp.Header.Get("WWW-Authenticate"))
	}

	plain := errors.New("app database: pq: relation \"accounts\" does not exist")
	a.users.err.Store(&plain)
	resp, m = a.get(t, access)
	if resp.StatusCode != 500 || m["error"] != "internal_error" || strings.Contains(m["message"], "accounts") {
		t.Errorf("a plain error from the application's Users: %d %v; want 500 internal_error without the cause", resp.StatusCode, m)
	}
	if !strings.Contains(a.log.String(), `relation \"accounts\" does not exist`) || strings.Contains(a.log.String(), access) {
		t.Errorf("the 500's cause must be logged (and never the token):\n%s", a.log.String())
	}

	down := fmt.Errorf("app database: %w", store.ErrUnavailable)
	a.users.err.Store(&down)
	resp, m = a.get(t, access)
	if resp.StatusCode != 503 || m["error"] != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("the application's Users unavailable: %d %v; want 503 with Retry-After", resp.StatusCode, m)
	}
	a.users.err.Store(nil)

	a.clk.Advance(15*time.Minute + latchkey.AccessLeeway)
	if resp, m := a.get(t, access); resp.StatusCode != 401 || m["message"] != "the access token has expired" ||
		resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Errorf("expired: %d %v", resp.StatusCode, m)
	}
	access = a.signIn(t)
	a.st.Close()
	if resp, m := a.get(t, access); resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a closed store: %d %v; want 503", resp.StatusCode, m)
	}
}

// A service that verifies with RemoteKeys answers 503, not 401, while the
// JWKS URL fails: an outage of the issuer is not a forged token.
func TestMiddlewareJWKSOutageIs503(t *testing.T) {
	clk := testkit.NewClock(jwksT0)
	s := newJWKSServer(t, clk)
	s.mode.Store("fail")
	a := latchkey.NewAuthenticator(latchkey.AuthOptions{Issuer: "https://auth.example.com", Now: clk.Now,
		Keys:   latchkey.RemoteKeys(s.URL, latchkey.RemoteOptions{Now: clk.Now}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(a.Middleware(http.HandlerFunc(whoami)))
	defer srv.Close()
	tok := s.mint(t, clk.Now())
	resp, m := getWith(t, srv.Client(), srv.URL, tok)
	if resp.StatusCode != 503 || m["error"] != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("JWKS down: %d %v; want 503 with Retry-After", resp.StatusCode, m)
	}
	s.mode.Store("ok")
	clk.Advance(10 * time.Second)
	if resp, m := getWith(t, srv.Client(), srv.URL, tok); resp.StatusCode != 200 || m["body"] != "u1" {
		t.Fatalf("JWKS back: %d %v", resp.StatusCode, m)
	}
}

// Under HS256 the in-process middleware verifies with the shared secret
// (it used to look only at the asymmetric keys and refuse every token).
func TestMiddlewareHS256(t *testing.T) {
	a := newAPI(t, nil, func(o *latchkey.Options) {
		o.Algorithm, o.HS256Secret = token.HS256, []byte(strings.Repeat("h", 32))
	})
	access := a.signIn(t)
	if resp, m := a.get(t, access); resp.StatusCode != 200 || m["body"] != "u-1" {
		t.Fatalf("HS256 access token on a host route: %d %v", resp.StatusCode, m)
	}
}

// countingStore counts the reads of the signing keys of a real store.
type countingStore struct {
	store.Store
	keyReads atomic.Int32
}

func (c *countingStore) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	c.keyReads.Add(1)
	return c.Store.SigningKeys(ctx)
}

// Two instances over one database: a key rotated on A signs tokens that B's
// middleware accepts at once (B reloads its keys for the unknown kid), and
// made-up kids make B read the keys at most once per
// UnknownKeyReloadInterval.
func TestMiddlewareFollowsKeyRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lk.db")
	a := newAPI(t, openSQLite(t, path), nil)
	bStore := &countingStore{Store: openSQLite(t, path)}
	b := newAPI(t, nil, func(o *latchkey.Options) { o.Store, o.KeyReloadInterval, o.Issuer = bStore, -1, a.URL })
	if a.lk.Tokens.ActiveKeyID() != b.lk.Tokens.ActiveKeyID() {
		t.Fatal("control: both instances sign with the same first key")
	}
	if _, err := a.lk.Tokens.RotateKey(context.Background(), a.st, token.ES256); err != nil {
		t.Fatal(err)
	}
	access := a.signIn(t)
	reads := bStore.keyReads.Load()
	if resp, m := b.get(t, access); resp.StatusCode != 200 || m["body"] != "u-1" {
		t.Fatalf("B, a token signed with A's new key: %d %v", resp.StatusCode, m)
	}
	if n := bStore.keyReads.Load() - reads; n != 1 {
		t.Fatalf("B read the keys %d times for the new kid; want 1", n)
	}

	parts := strings.SplitN(access, ".", 2)
	forged := b64url(`{"alg":"ES256","kid":"made-up","typ":"at+jwt"}`) + "." + parts[1]
	b.clk.Advance(latchkey.UnknownKeyReloadInterval)
	reads = bStore.keyReads.Load()
	for range 50 {
		if resp, m := b.get(t, forged); resp.StatusCode != 401 || m["error"] != "invalid_token" {
			t.Fatalf("a made-up kid: %d %v", resp.StatusCode, m)
		}
	}
	if n := bStore.keyReads.Load() - reads; n != 1 {
		t.Fatalf("50 made-up kids made B read the keys %d times; want 1", n)
	}
}

// WithPrincipal puts a principal where Middleware puts it, so a protected
// handler can be tested without a sign-in.
func TestWithPrincipal(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/whoami", nil)
	req = req.WithContext(latchkey.WithPrincipal(req.Context(), auth.Principal{UserID: "u-42", SessionID: "s-1"}))
	whoami(rec, req)
	if rec.Body.String() != "u-42" {
		t.Fatalf("handler saw %q", rec.Body.String())
	}
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
