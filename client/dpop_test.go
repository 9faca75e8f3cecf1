package client_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-dev/latchkey/client"
	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/dpop"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// jwtClaims decodes a JWT's payload, unverified (a proof or the test's own
// tokens).
func jwtClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	var m map[string]any
	testkit.Claims(t, jwt, &m)
	return m
}

// proofLog records the DPoP header of every request it carries, by
// "METHOD /path".
type proofLog struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen map[string][]string
}

func newProofLog(base http.RoundTripper) *proofLog {
	return &proofLog{base: base, seen: map[string][]string{}}
}

func (p *proofLog) RoundTrip(r *http.Request) (*http.Response, error) {
	p.mu.Lock()
	p.seen[r.Method+" "+r.URL.Path] = append(p.seen[r.Method+" "+r.URL.Path], r.Header.Get("DPoP"))
	p.mu.Unlock()
	return p.base.RoundTrip(r)
}

func (p *proofLog) proofs(key string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen[key]...)
}

// dpopEnv is a real server with DPoP settings, and clients of it whose
// clock moves with the server's (proofs are judged by the server's clock).
type dpopEnv struct {
	*env
	proofs *proofLog
}

func newDPoPEnv(t *testing.T, mod func(*config.Config)) *dpopEnv {
	t.Helper()
	srv := servertest.Start(t, mod)
	e := &env{srv: srv, clock: srv.Clock, hits: newCounter()}
	p := newProofLog(http.DefaultTransport)
	e.hits.base = p
	return &dpopEnv{env: e, proofs: p}
}

// The whole life of a DPoP session through the real server: SignIn binds
// the session to the client's key (token type DPoP, cnf.jkt), every call
// that needs the access token sends it with a proof of that call, every
// refresh sends a new proof, and the tokens are worthless without the key.
func TestDPoPSession(t *testing.T) {
	e := newDPoPEnv(t, nil)
	ctx := t.Context()
	c := e.signedIn(t, "dpop@example.com", client.WithDPoP(nil))
	key := c.DPoPKey()
	if _, ok := key.(*ecdsa.PrivateKey); !ok {
		t.Fatalf("generated key %T; want ECDSA P-256", key)
	}
	jkt, err := dpop.Thumbprint(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	tok := c.Tokens()
	if tok.TokenType != "DPoP" {
		t.Fatalf("token type %q; want DPoP", tok.TokenType)
	}
	if cnf, _ := jwtClaims(t, tok.AccessToken)["cnf"].(map[string]any); cnf["jkt"] != jkt {
		t.Fatalf("cnf %v; want jkt %s", cnf, jkt)
	}
	signIn := e.proofs.proofs("POST /auth/sign-in")
	if len(signIn) != 1 || signIn[0] == "" || jwtClaims(t, signIn[0])["htu"] != e.srv.URL+"/auth/sign-in" {
		t.Fatalf("sign-in proofs %q", signIn)
	}

	if u, err := c.Me(ctx); err != nil || u.Email != "dpop@example.com" {
		t.Fatalf("Me: %v %v", u, err)
	}
	me := e.proofs.proofs("GET /auth/me")
	if len(me) != 1 || jwtClaims(t, me[0])["ath"] != dpop.AccessTokenHash(tok.AccessToken) {
		t.Fatalf("Me's proof %q: want one with the token's ath", me)
	}

	// A stolen access token: as Bearer it is refused (RFC 9449 §7.2), and
	// with the DPoP scheme but no proof, too.
	for _, authz := range []string{"Bearer " + tok.AccessToken, "DPoP " + tok.AccessToken} {
		r := e.srv.Do(t, "GET", "/auth/me", nil, "Authorization: "+authz)
		if r.Status != http.StatusUnauthorized {
			t.Errorf("%s… without the key: %d; want 401", authz[:5], r.Status)
		}
	}

	// The refresh sends a new proof each time; the tokens stay bound.
	e.srv.Clock.Advance(accessLifetime)
	if _, err := c.Me(ctx); err != nil {
		t.Fatalf("Me after the access token expired: %v", err)
	}
	if _, err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	refreshes := e.proofs.proofs("POST /token")
	if len(refreshes) != 2 || refreshes[0] == refreshes[1] || jwtClaims(t, refreshes[0])["jti"] == jwtClaims(t, refreshes[1])["jti"] {
		t.Fatalf("refresh proofs: %d, want 2 different ones", len(refreshes))
	}
	if _, ok := jwtClaims(t, refreshes[0])["ath"]; ok {
		t.Error("a token request's proof carries no ath (RFC 9449 §4.2)")
	}
	if got := c.Tokens(); got.TokenType != "DPoP" || jwtClaims(t, got.AccessToken)["cnf"] == nil {
		t.Fatalf("refreshed tokens %q lost the binding", got.TokenType)
	}
	if s, err := c.Sessions(ctx); err != nil || len(s) != 1 {
		t.Fatalf("Sessions: %v %v", s, err)
	}

	// The refresh token alone is worthless: a client without the key, or
	// with another key, cannot refresh, must sign in again, and does not
	// end the victim's session by trying.
	stolen := c.Tokens()
	stolen.TokenType = "Bearer" // a thief that does not know better
	thief, err := client.New(e.srv.URL, client.WithTokens(stolen), client.WithClock(e.srv.Clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := thief.Refresh(ctx); !isCode(err, client.CodeInvalidDPoPProof) || !client.IsReauthRequired(err) {
		t.Errorf("refresh without the key: %v; want invalid_dpop_proof, reauth", err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	thief2, err := client.New(e.srv.URL, client.WithTokens(c.Tokens()), client.WithDPoP(other), client.WithClock(e.srv.Clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	var ce *client.Error
	if _, err := thief2.Refresh(ctx); !isCode(err, client.CodeInvalidDPoPProof) || !client.IsReauthRequired(err) ||
		!errors.As(err, &ce) || ce.Reason != "key_mismatch" {
		t.Errorf("refresh with another key: %v; want invalid_dpop_proof key_mismatch, reauth", err)
	}
	if _, err := c.Refresh(ctx); err != nil {
		t.Fatalf("the key holder's refresh after the thieves': %v", err)
	}
	e.noReuse(t)
	if err := c.SignOut(ctx, client.ScopeLocal); err != nil {
		t.Fatal(err)
	}
}

// Persisted tokens of a bound session need their key: New refuses them
// without one, and with it (WithDPoP) the session goes on after a restart.
func TestDPoPResume(t *testing.T) {
	e := newDPoPEnv(t, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c := e.signedIn(t, "resume@example.com", client.WithDPoP(key))
	saved, err := json.Marshal(c.Tokens())
	if err != nil {
		t.Fatal(err)
	}
	var tok client.Tokens
	if err := json.Unmarshal(saved, &tok); err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(e.srv.URL, client.WithTokens(tok)); err == nil || !strings.Contains(err.Error(), "WithDPoP") {
		t.Errorf("bound tokens without the key: %v; want an error naming WithDPoP", err)
	}
	again := e.client(t, client.WithTokens(tok), client.WithDPoP(key))
	if _, err := again.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := again.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// With DPOP_NONCE=on, the server refuses a proof without its current nonce
// (400 use_dpop_nonce on token requests, 401 on resources) and sends one:
// the client retries once with it, remembers the latest, and the caller
// sees nothing of it.
func TestDPoPNonces(t *testing.T) {
	e := newDPoPEnv(t, func(c *config.Config) { c.DPoPNonce = true })
	ctx := t.Context()
	e.srv.SignUp(t, "nonce@example.com", password)
	c := e.client(t, client.WithDPoP(nil))
	if _, err := c.SignIn(ctx, "nonce@example.com", password); err != nil {
		t.Fatal(err)
	}
	if got := e.hits.count("POST /auth/sign-in"); got != 2 {
		t.Errorf("sign-ins sent: %d; want 2 (without a nonce, then with the one the server sent)", got)
	}
	signIn := e.proofs.proofs("POST /auth/sign-in")
	if n := jwtClaims(t, signIn[1])["nonce"]; n == nil || n == "" || jwtClaims(t, signIn[0])["jti"] == jwtClaims(t, signIn[1])["jti"] {
		t.Errorf("the retry must be a new proof with the nonce: %v", n)
	}
	// The nonce of the sign-in's answer serves the next requests.
	if _, err := c.Me(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.hits.count("GET /auth/me"); got != 1 {
		t.Errorf("GET /auth/me sent %d times; want 1 (the client had the nonce)", got)
	}
	// Ten minutes on, the nonce is stale: a resource asks for the new one
	// (401), and the call goes through on the retry.
	e.srv.Clock.Advance(10 * time.Minute)
	if _, err := c.Me(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.hits.count("GET /auth/me"); got != 3 {
		t.Errorf("GET /auth/me sent %d times; want 3", got)
	}
	// Ten more minutes: the refresh asks for a new nonce too (400).
	e.srv.Clock.Advance(10 * time.Minute)
	if _, err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.hits.count("POST /token"); got != 2 {
		t.Errorf("POST /token sent %d times; want 2", got)
	}
	e.noReuse(t)
}

// A client whose clock is an hour ahead: its first proof is refused for its
// iat, and the sign-in is sent again with the server's time from the
// answer's Date; afterwards the tokens keep the client on the server's
// time.
func TestDPoPClockSkew(t *testing.T) {
	srv, c, ahead, proofs := newDatedClient(t, time.Hour, "skew@example.com")
	if _, err := c.SignIn(t.Context(), "skew@example.com", password); err != nil {
		t.Fatalf("sign-in with a clock an hour ahead: %v", err)
	}
	signIns := proofs.proofs("POST /auth/sign-in")
	if len(signIns) != 2 {
		t.Fatalf("%d sign-ins sent; want 2", len(signIns))
	}
	iat := func(p string) time.Time { return time.Unix(int64(jwtClaims(t, p)["iat"].(float64)), 0) }
	if d := iat(signIns[1]).Sub(srv.Clock.Now()); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("the retried proof's iat is %v off the server's clock", d)
	}
	srv.Clock.Advance(time.Minute)
	ahead.Advance(time.Minute)
	if _, err := c.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := len(proofs.proofs("POST /token")); got != 1 {
		t.Errorf("%d refreshes sent; want 1 (the client knows the server's time)", got)
	}
}

// newDatedClient starts newDatedServer, signs email up, and returns a
// DPoP client of it on its own clock, set offset from the server's, whose
// requests the returned proofLog records.
func newDatedClient(t *testing.T, offset time.Duration, email string) (*servertest.Server, *client.Client, *testkit.Clock, *proofLog) {
	t.Helper()
	srv, front, proofs := newDatedServer(t)
	clk := testkit.NewClock(srv.Clock.Now().Add(offset))
	c, err := client.New(front, client.WithDPoP(nil), client.WithClock(clk.Now),
		client.WithHTTPClient(&http.Client{Transport: proofs}))
	if err != nil {
		t.Fatal(err)
	}
	srv.SignUp(t, email, password)
	return srv, c, clk, proofs
}

// newDatedServer starts a real server behind a front that writes the
// server's Date by the server's own clock, as every other time it sends
// (the http.Server would write the machine's), and records the proofs it
// passes on. The front's URL is the server's PUBLIC_URL, which proofs name.
func newDatedServer(t *testing.T) (*servertest.Server, string, *proofLog) {
	t.Helper()
	dated := httptest.NewUnstartedServer(nil)
	srv := servertest.Start(t, func(c *config.Config) { c.PublicURL = "http://" + dated.Listener.Addr().String() })
	dated.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", srv.Clock.Now().UTC().Format(http.TimeFormat))
		srv.Config.Handler.ServeHTTP(w, r)
	})
	dated.Start()
	t.Cleanup(dated.Close)
	return srv, dated.URL, newProofLog(http.DefaultTransport)
}

// The machine slept: the server's clock moved on, the client's stood still,
// so the client calls with an access token that has expired at the server.
// The 401 (invalid_token in the Bearer and DPoP challenges) makes it
// refresh; the refresh's first proof is dated by the client's stale clock
// and refused for its iat, the second by the server's Date passes, and the
// call is sent again with the new token and a proof of it.
func TestDPoPExpiredAt401(t *testing.T) {
	srv, c, _, proofs := newDatedClient(t, 0, "slept@example.com")
	if _, err := c.SignIn(t.Context(), "slept@example.com", password); err != nil {
		t.Fatal(err)
	}
	srv.Clock.Advance(accessLifetime + time.Minute)
	if u, err := c.Me(t.Context()); err != nil || u.Email != "slept@example.com" {
		t.Fatalf("Me after the machine slept: %v %v", u, err)
	}
	me, refreshes := proofs.proofs("GET /auth/me"), proofs.proofs("POST /token")
	if len(me) != 2 || len(refreshes) != 2 {
		t.Fatalf("sent %d GET /auth/me and %d POST /token; want 2 and 2", len(me), len(refreshes))
	}
	if jwtClaims(t, me[1])["ath"] != dpop.AccessTokenHash(c.Tokens().AccessToken) {
		t.Error("the retried call's proof is not for the new access token")
	}
}

// Code built on x/oauth2 uses TokenSource with DPoPTransport as the base of
// oauth2.Transport: the token goes as DPoP with a proof of each request.
func TestDPoPTokenSource(t *testing.T) {
	e := newDPoPEnv(t, func(c *config.Config) { c.DPoPNonce = true })
	c := e.signedIn(t, "oauth2@example.com", client.WithDPoP(nil))
	tok, err := c.TokenSource().Token()
	if err != nil || tok.Type() != "DPoP" {
		t.Fatalf("Token: %v %v", tok, err)
	}
	e.srv.Clock.Advance(10 * time.Minute) // the nonce is stale: one retry
	hc := &http.Client{Transport: &oauth2.Transport{Source: c.TokenSource(), Base: c.DPoPTransport(e.hits)}}
	resp, err := hc.Get(e.srv.URL + "/auth/me")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "oauth2@example.com") {
		t.Fatalf("GET /auth/me through x/oauth2: %d %s", resp.StatusCode, body)
	}
	// Without DPoPTransport the token has no proof: refused.
	plain := &http.Client{Transport: &oauth2.Transport{Source: c.TokenSource(), Base: http.DefaultTransport}}
	resp, err = plain.Get(e.srv.URL + "/auth/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without DPoPTransport: %d; want 401", resp.StatusCode)
	}
}

// A server with DPoP off answers a sign-in with a proof with bearer tokens:
// the client uses them as such.
func TestDPoPServerOff(t *testing.T) {
	e := newDPoPEnv(t, func(c *config.Config) { c.DPoP = "off" })
	c := e.signedIn(t, "off@example.com", client.WithDPoP(nil))
	if got := c.Tokens().TokenType; got != "Bearer" {
		t.Fatalf("token type %q; want Bearer", got)
	}
	if _, err := c.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p := e.proofs.proofs("GET /auth/me"); len(p) != 1 || p[0] != "" {
		t.Errorf("a bearer call carried a proof: %q", p)
	}
}

// newDPoPFaultEnv is newFaultEnv for DPoP: the server's PUBLIC_URL is the
// front's URL, which the client calls and its proofs name, and the front
// records every proof it passes on.
func newDPoPFaultEnv(t *testing.T) (*faultEnv, *proofLog) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	srv := servertest.Start(t, func(c *config.Config) { c.PublicURL = "http://" + ts.Listener.Addr().String() })
	f := &front{srv: srv, stalled: make(chan struct{}, 16)}
	proofs := newProofLog(nil)
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proofs.mu.Lock()
		proofs.seen[r.Method+" "+r.URL.Path] = append(proofs.seen[r.Method+" "+r.URL.Path], r.Header.Get("DPoP"))
		proofs.mu.Unlock()
		f.serve(w, r)
	})
	ts.Start()
	t.Cleanup(ts.Close)
	f.Server = ts
	e := &env{srv: srv, clock: testkit.NewClock(servertest.Epoch), hits: newCounter()}
	return &faultEnv{env: e, world: newWorld(srv.Clock), front: f}, proofs
}

// A bound session's refresh whose answer is lost (the connection drops
// after the server rotated) or comes as a 503 with Retry-After after the
// rotation is retried with the same refresh token, as for a bearer session,
// and with a new proof: the server would refuse the first one as a replay.
func TestDPoPRefreshRetriesSendNewProofs(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault fault
		wait  time.Duration
	}{
		{"dropped connection", drop, 250 * time.Millisecond},
		{"503 after the rotation", lateDown, 2 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fe, proofs := newDPoPFaultEnv(t)
			c := fe.signedIn(t, "retry@example.com", client.WithDPoP(nil))
			if c.Tokens().TokenType != "DPoP" {
				t.Fatalf("token type %q", c.Tokens().TokenType)
			}
			rt1 := c.Tokens().RefreshToken
			fe.world.Advance(accessLifetime)
			fe.front.next(tt.fault)
			fe.front.setAlways(pass, "2")
			done := make(chan error, 1)
			go func() { _, err := c.Refresh(t.Context()); done <- err }()
			fe.world.AdvanceTimer(t, tt.wait)
			if err := await(t, done, "Refresh"); err != nil {
				t.Fatal(err)
			}
			seen := fe.front.refreshes()
			if len(seen) != 2 || seen[0].token != rt1 || seen[1].token != rt1 || seen[1].status != http.StatusOK {
				t.Fatalf("refreshes %+v; want the same token twice, the retry answered 200", seen)
			}
			p := proofs.proofs("POST /token")
			if len(p) != 2 || p[0] == "" || jwtClaims(t, p[0])["jti"] == jwtClaims(t, p[1])["jti"] {
				t.Fatalf("the retry must carry a new proof (%d proofs)", len(p))
			}
			if !fe.logged("refresh.reissued") || fe.logged("refresh.reuse_detected") {
				t.Error("the retry was not answered with the current tokens")
			}
			if st, err := fe.me(c); err != nil || st != http.StatusOK {
				t.Fatalf("GET /auth/me afterwards: %d %v", st, err)
			}
		})
	}
}

// WithDPoP takes the keys proofs are signed with (ES256, EdDSA, PS256) and
// refuses others at New, before any request depends on them; an Ed25519 and
// an RSA client bind their sessions as an ECDSA one does.
func TestDPoPKeys(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	for _, k := range []crypto.Signer{p384, rsa1024} {
		if _, err := client.New("https://auth.example.com", client.WithDPoP(k)); err == nil {
			t.Errorf("New with a %T key: want an error", k.Public())
		}
	}
	e := newDPoPEnv(t, nil)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	for i, k := range []crypto.Signer{ed, rsa2048} {
		c := e.signedIn(t, fmt.Sprintf("keys%d@example.com", i), client.WithDPoP(k))
		if c.Tokens().TokenType != "DPoP" {
			t.Fatalf("%T: token type %q", k, c.Tokens().TokenType)
		}
		e.srv.Clock.Advance(time.Second)
		if _, err := c.Refresh(t.Context()); err != nil {
			t.Fatalf("%T: %v", k, err)
		}
		if _, err := c.Me(t.Context()); err != nil {
			t.Fatalf("%T: %v", k, err)
		}
	}
}
