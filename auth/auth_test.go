package auth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/sqlite"
	"github.com/latchkey-dev/latchkey/token"
)

var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

// clock is an injected, manually advanced clock: tests never sleep.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	svc   *auth.Service
	store store.Store
	clock *clock
}

func newEnv(t testing.TB, mod func(*auth.Policy)) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: t0}
	iss, err := token.NewIssuer(token.Options{Issuer: "http://test", Audience: "latchkey", RefreshSecret: []byte(strings.Repeat("k", 32)),
		Leeway: 5 * time.Second, PublishRetiredFor: 20 * time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.LoadKeys(ctx, db, token.ES256, nil); err != nil {
		t.Fatal(err)
	}
	pol := auth.DefaultPolicy
	if mod != nil {
		mod(&pol)
	}
	svc := auth.New(auth.Options{Store: db, Tokens: iss, Hasher: password.New(password.Cheap, 4, 64), Policy: pol,
		Now: clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return &env{svc: svc, store: db, clock: clk}
}

func (e *env) signIn(t testing.TB, email string) *auth.Grant {
	t.Helper()
	ctx := context.Background()
	if _, err := e.svc.SignUp(ctx, email, "password123"); err != nil && auth.ErrorCode(err) != auth.CodeEmailTaken {
		t.Fatal(err)
	}
	g, err := e.svc.SignIn(ctx, email, "password123", auth.Meta{IP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func wantCode(t testing.TB, err error, c auth.Code) {
	t.Helper()
	if got := auth.ErrorCode(err); got != c {
		t.Fatalf("error = %v (code %q), want code %q", err, got, c)
	}
}

func TestSignUpAndSignIn(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	u, err := e.svc.SignUp(ctx, "  Alice@Example.COM ", "password123")
	if err != nil || u.Email != "alice@example.com" || u.Status != store.UserActive {
		t.Fatalf("sign-up: %+v %v", u, err)
	}
	_, err = e.svc.SignUp(ctx, "alice@example.com", "password123")
	wantCode(t, err, auth.CodeEmailTaken)
	_, err = e.svc.SignUp(ctx, "not-an-email", "password123")
	wantCode(t, err, auth.CodeInvalidRequest)
	_, err = e.svc.SignUp(ctx, "bob@example.com", "short")
	wantCode(t, err, auth.CodeInvalidRequest)

	g, err := e.svc.SignIn(ctx, "ALICE@example.com", "password123", auth.Meta{ClientID: "web", UserAgent: "ua", IP: "10.0.0.1"})
	if err != nil || g.AccessToken == "" || g.RefreshToken == "" || g.User.ID != u.ID {
		t.Fatalf("sign-in: %+v %v", g, err)
	}
	if !g.AccessExpiresAt.Equal(t0.Add(15*time.Minute)) || !g.RefreshExpiresAt.Equal(t0.Add(24*time.Hour)) ||
		!g.Session.AbsoluteExpiresAt.Equal(t0.Add(720*time.Hour)) {
		t.Fatalf("lifetimes: %+v", g)
	}
	// Unknown email and wrong password are the same answer.
	_, err1 := e.svc.SignIn(ctx, "nobody@example.com", "password123", auth.Meta{})
	_, err2 := e.svc.SignIn(ctx, "alice@example.com", "wrong-password", auth.Meta{})
	wantCode(t, err1, auth.CodeInvalidCredentials)
	wantCode(t, err2, auth.CodeInvalidCredentials)
	if err1.Error() != err2.Error() {
		t.Fatalf("distinguishable failures: %q vs %q", err1, err2)
	}
}

func TestRefreshRotatesAndSlides(t *testing.T) {
	e := newEnv(t, nil)
	g := e.signIn(t, "a@example.com")
	e.clock.Add(time.Hour)
	g2, err := e.svc.Refresh(context.Background(), g.RefreshToken, "", auth.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if g2.RefreshToken == g.RefreshToken || g2.Session.Generation != 2 || g2.Reissued {
		t.Fatalf("not rotated: %+v", g2)
	}
	if !g2.RefreshExpiresAt.Equal(t0.Add(25 * time.Hour)) {
		t.Fatalf("refresh expiry did not slide: %v", g2.RefreshExpiresAt)
	}
	c, err := e.svc.Tokens().VerifyAccess(g2.AccessToken)
	if err != nil || c.SessionID != g.Session.ID || c.Subject != g.User.ID {
		t.Fatalf("new access token: %+v %v", c, err)
	}
}

func TestReuseInsideIntervalReturnsCurrentGeneration(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	g := e.signIn(t, "a@example.com")
	g2, err := e.svc.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(9 * time.Second) // inside the default 10s interval
	g3, err := e.svc.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	if err != nil {
		t.Fatalf("the preceding token inside the interval: %v", err)
	}
	if !g3.Reissued || g3.Session.Generation != 2 {
		t.Fatalf("want the current generation reissued, got %+v", g3)
	}
	// Both copies of the current generation work; the first one used rotates.
	if _, err := e.svc.Refresh(ctx, g3.RefreshToken, "", auth.Meta{}); err != nil {
		t.Fatal(err)
	}
	_ = g2
}

func TestReuseOutsideIntervalRevokesTheFamily(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	g := e.signIn(t, "a@example.com")
	g2, err := e.svc.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(11 * time.Second)
	_, err = e.svc.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	wantCode(t, err, auth.CodeRefreshReused)
	// The current token dies too: the stolen token's family is revoked.
	_, err = e.svc.Refresh(ctx, g2.RefreshToken, "", auth.Meta{})
	wantCode(t, err, auth.CodeRefreshReused)
	sess, _ := e.store.Session(ctx, g.Session.ID)
	if !sess.Revoked() || sess.RevokeReason != "refresh_token_reused" {
		t.Fatalf("session not revoked: %+v", sess)
	}
	in, err := e.svc.Introspect(ctx, g2.AccessToken)
	if err != nil || in.Active {
		t.Fatalf("access token of a revoked session introspects active: %+v %v", in, err)
	}
}

// Two generations back is never the "immediately preceding" token, even
// inside the interval.
func TestOlderThanPrecedingIsReuseEvenInsideInterval(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	g := e.signIn(t, "a@example.com")
	g2, _ := e.svc.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	if _, err := e.svc.Refresh(ctx, g2.RefreshToken, "", auth.Meta{}); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	wantCode(t, err, auth.CodeRefreshReused)
}

func TestRotationOffReturnsTheSameToken(t *testing.T) {
	e := newEnv(t, func(p *auth.Policy) { p.Rotation = false })
	g := e.signIn(t, "a@example.com")
	for range 3 {
		e.clock.Add(time.Minute)
		g2, err := e.svc.Refresh(context.Background(), g.RefreshToken, "", auth.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if g2.RefreshToken != g.RefreshToken || g2.AccessToken == g.AccessToken {
			t.Fatalf("rotation off must return the same refresh token and a new access token")
		}
	}
}

func TestExpiryIsExactAndCapped(t *testing.T) {
	e := newEnv(t, func(p *auth.Policy) { p.RefreshTTL = time.Hour; p.SessionMaxLifetime = 90 * time.Minute })
	ctx := context.Background()
	g := e.signIn(t, "a@example.com")
	e.clock.Add(time.Hour) // exactly at the refresh expiry: expired, no leeway
	_, err := e.svc.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	wantCode(t, err, auth.CodeRefreshExpired)

	g = e.signIn(t, "a@example.com")
	e.clock.Add(59 * time.Minute)
	g2, err := e.svc.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	// The sliding expiry is capped by the absolute lifetime (90m after sign-in).
	if want := e.clock.Now().Add(31 * time.Minute); !g2.RefreshExpiresAt.Equal(want) {
		t.Fatalf("refresh expiry %v, want the absolute cap %v", g2.RefreshExpiresAt, want)
	}
	if g2.AccessExpiresAt.After(g2.Session.AbsoluteExpiresAt) {
		t.Fatal("access token outlives the session")
	}
	e.clock.Add(31 * time.Minute)
	_, err = e.svc.Refresh(ctx, g2.RefreshToken, "", auth.Meta{})
	if c := auth.ErrorCode(err); c != auth.CodeRefreshExpired && c != auth.CodeSessionExpired {
		t.Fatalf("past the absolute cap: %v", err)
	}
}

func TestInactiveUserCannotRefreshAndSessionIsRevoked(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	g := e.signIn(t, "a@example.com")
	if _, err := e.svc.SetUserActive(ctx, "a@example.com", false); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	if c := auth.ErrorCode(err); c != auth.CodeSessionRevoked && c != auth.CodeUserInactive {
		t.Fatalf("inactive user refresh: %v", err)
	}
	_, err = e.svc.SignIn(ctx, "a@example.com", "password123", auth.Meta{})
	wantCode(t, err, auth.CodeUserInactive)
	if _, err := e.svc.SetUserActive(ctx, "a@example.com", true); err != nil {
		t.Fatal(err)
	}
	e.signIn(t, "a@example.com")
}

// A user made inactive directly in the store (another tool, another
// instance) is caught by the compare-and-set's join, and the session dies.
func TestInactiveUserCaughtByTheRotation(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	g := e.signIn(t, "a@example.com")
	u := g.User
	u.Status = store.UserInactive
	if err := e.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	wantCode(t, err, auth.CodeUserInactive)
	if sess, _ := e.store.Session(ctx, g.Session.ID); !sess.Revoked() {
		t.Fatal("session of an inactive user not revoked")
	}
}

func TestParallelDoubleSpendThroughTheDomain(t *testing.T) {
	e := newEnv(t, nil)
	g := e.signIn(t, "a@example.com")
	var rotated, reissued, failed atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g2, err := e.svc.Refresh(context.Background(), g.RefreshToken, "", auth.Meta{})
			switch {
			case err != nil:
				failed.Add(1)
			case g2.Reissued:
				reissued.Add(1)
			default:
				rotated.Add(1)
			}
		}()
	}
	wg.Wait()
	if rotated.Load() != 1 || failed.Load() != 0 || reissued.Load() != 31 {
		t.Fatalf("rotated %d, reissued %d, failed %d; want exactly one rotation", rotated.Load(), reissued.Load(), failed.Load())
	}
	sess, _ := e.store.Session(context.Background(), g.Session.ID)
	if sess.Generation != 2 {
		t.Fatalf("generation %d, want 2: two live chains", sess.Generation)
	}
}

func TestSignOutScopes(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a := e.signIn(t, "a@example.com")
	b := e.signIn(t, "a@example.com")
	c := e.signIn(t, "a@example.com")
	pb, _ := e.svc.Authenticate(ctx, b.AccessToken)
	if err := e.svc.SignOut(ctx, pb, auth.ScopeOthers); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*auth.Grant{a, c} {
		_, err := e.svc.Refresh(ctx, x.RefreshToken, "", auth.Meta{})
		wantCode(t, err, auth.CodeSessionRevoked)
	}
	list, _ := e.svc.ListSessions(ctx, pb)
	if len(list) != 1 || !list[0].Current || list[0].ID != b.Session.ID {
		t.Fatalf("sessions after sign-out of others: %+v", list)
	}
	if err := e.svc.SignOut(ctx, pb, auth.ScopeLocal); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Refresh(ctx, b.RefreshToken, "", auth.Meta{})
	wantCode(t, err, auth.CodeSessionRevoked)
	d := e.signIn(t, "a@example.com")
	f := e.signIn(t, "a@example.com")
	pd, _ := e.svc.Authenticate(ctx, d.AccessToken)
	if err := e.svc.SignOut(ctx, pd, auth.ScopeGlobal); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Refresh(ctx, f.RefreshToken, "", auth.Meta{})
	wantCode(t, err, auth.CodeSessionRevoked)
}

func TestRevokeSessionOnlyOwn(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a := e.signIn(t, "a@example.com")
	b := e.signIn(t, "b@example.com")
	pa, _ := e.svc.Authenticate(ctx, a.AccessToken)
	wantCode(t, e.svc.RevokeSession(ctx, pa, b.Session.ID), auth.CodeNotFound)
	if err := e.svc.RevokeSession(ctx, pa, a.Session.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Refresh(ctx, b.RefreshToken, "", auth.Meta{}); err != nil {
		t.Fatalf("b's session must be untouched: %v", err)
	}
}

func TestMaxSessionsEvictsLeastRecentlyRefreshed(t *testing.T) {
	e := newEnv(t, func(p *auth.Policy) { p.MaxSessionsPerUser = 2 })
	ctx := context.Background()
	first := e.signIn(t, "a@example.com")
	e.clock.Add(time.Second)
	second := e.signIn(t, "a@example.com")
	e.clock.Add(time.Second)
	if _, err := e.svc.Refresh(ctx, first.RefreshToken, "", auth.Meta{}); err != nil { // first is now the most recent
		t.Fatal(err)
	}
	e.clock.Add(time.Second)
	e.signIn(t, "a@example.com")
	_, err := e.svc.Refresh(ctx, second.RefreshToken, "", auth.Meta{})
	wantCode(t, err, auth.CodeSessionRevoked)
}

func TestRenewAccess(t *testing.T) {
	e := newEnv(t, func(p *auth.Policy) { p.RefreshTTL = 20 * time.Minute })
	ctx := context.Background()
	g := e.signIn(t, "a@example.com")
	e.clock.Add(10 * time.Minute)
	r, err := e.svc.RenewAccess(ctx, g.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	// Never past the session's refresh expiry (t0+20m), though the access TTL is 15m.
	if !r.AccessExpiresAt.Equal(t0.Add(20*time.Minute)) || r.RefreshToken != "" {
		t.Fatalf("renewal: %+v", r)
	}
	_, err = e.svc.RenewAccess(ctx, g.RefreshToken)
	wantCode(t, err, auth.CodeInvalidToken)
	p, _ := e.svc.Authenticate(ctx, g.AccessToken)
	_ = e.svc.SignOut(ctx, p, auth.ScopeLocal)
	_, err = e.svc.RenewAccess(ctx, g.AccessToken)
	wantCode(t, err, auth.CodeSessionRevoked)

	off := newEnv(t, func(p *auth.Policy) { p.AccessRenewal = false })
	g = off.signIn(t, "a@example.com")
	_, err = off.svc.RenewAccess(ctx, g.AccessToken)
	wantCode(t, err, auth.CodeNotImplemented)
}

func TestRevokeAndIntrospect(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	g := e.signIn(t, "a@example.com")
	for _, tok := range []string{g.AccessToken, g.RefreshToken} {
		in, err := e.svc.Introspect(ctx, tok)
		if err != nil || !in.Active || in.SessionID != g.Session.ID || in.Subject != g.User.ID {
			t.Fatalf("introspect: %+v %v", in, err)
		}
	}
	if in, _ := e.svc.Introspect(ctx, "garbage"); in.Active {
		t.Fatal("garbage is active")
	}
	if err := e.svc.RevokeToken(ctx, "garbage", ""); err != nil {
		t.Fatalf("unknown tokens revoke fine (RFC 7009 §2.2): %v", err)
	}
	if err := e.svc.RevokeToken(ctx, g.RefreshToken, "refresh_token"); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{g.AccessToken, g.RefreshToken} {
		if in, err := e.svc.Introspect(ctx, tok); err != nil || in.Active {
			t.Fatalf("after revocation: %+v %v", in, err)
		}
	}
	// A superseded refresh token introspects inactive.
	h := e.signIn(t, "a@example.com")
	if _, err := e.svc.Refresh(ctx, h.RefreshToken, "", auth.Meta{}); err != nil {
		t.Fatal(err)
	}
	if in, _ := e.svc.Introspect(ctx, h.RefreshToken); in.Active {
		t.Fatal("superseded refresh token is active")
	}
}

func TestClientBinding(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.svc.SignUp(ctx, "a@example.com", "password123"); err != nil {
		t.Fatal(err)
	}
	g, err := e.svc.SignIn(ctx, "a@example.com", "password123", auth.Meta{ClientID: "app-1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Refresh(ctx, g.RefreshToken, "app-2", auth.Meta{})
	wantCode(t, err, auth.CodeRefreshInvalid)
	if _, err := e.svc.Refresh(ctx, g.RefreshToken, "app-1", auth.Meta{}); err != nil {
		t.Fatal(err)
	}
}

func TestPurge(t *testing.T) {
	e := newEnv(t, func(p *auth.Policy) { p.RefreshTTL = time.Hour })
	ctx := context.Background()
	old := e.signIn(t, "a@example.com")
	e.clock.Add(2 * time.Hour)
	live := e.signIn(t, "a@example.com")
	n, err := e.svc.Purge(ctx, 5*time.Second)
	if err != nil || n != 1 {
		t.Fatalf("purge deleted %d (%v), want the one expired session", n, err)
	}
	_, err = e.svc.Refresh(ctx, old.RefreshToken, "", auth.Meta{})
	if c := auth.ErrorCode(err); c != auth.CodeRefreshExpired {
		t.Fatalf("purged session: %v", err)
	}
	if _, err := e.svc.Refresh(ctx, live.RefreshToken, "", auth.Meta{}); err != nil {
		t.Fatal(err)
	}
}

func TestUnavailableStore(t *testing.T) {
	e := newEnv(t, nil)
	g := e.signIn(t, "a@example.com")
	e.store.Close()
	_, err := e.svc.Refresh(context.Background(), g.RefreshToken, "", auth.Meta{})
	if err == nil {
		t.Fatal("refresh on a closed store succeeded")
	}
	var ae *auth.Error
	if errors.As(err, &ae) && ae.Code != auth.CodeUnavailable {
		t.Fatalf("closed store: %v", err)
	}
}

// BenchmarkRefresh is one refresh through the domain on SQLite: verify the
// refresh token, rotate (one compare-and-set), mint both tokens.
func BenchmarkRefresh(b *testing.B) {
	e := newEnv(b, nil)
	g := e.signIn(b, "a@example.com")
	tok := g.RefreshToken
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		g, err := e.svc.Refresh(ctx, tok, "", auth.Meta{})
		if err != nil {
			b.Fatal(err)
		}
		tok = g.RefreshToken
	}
}
