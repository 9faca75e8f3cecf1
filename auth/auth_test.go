package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/auth/authtest"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

var t0 = authtest.Epoch

// newEnv returns a Service over a new SQLite file, with the default policy
// changed by mod (may be nil).
func newEnv(t testing.TB, mod func(*auth.Policy)) *authtest.Env {
	t.Helper()
	return authtest.New(t, openSQLite(t), mod)
}

func TestSignUpAndSignIn(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	u, err := e.Service.SignUp(ctx, "  Alice@Example.COM ", "password123")
	if err != nil || u.Email != "alice@example.com" || u.Status != store.UserActive {
		t.Fatalf("sign-up: %+v %v", u, err)
	}
	_, err = e.Service.SignUp(ctx, "alice@example.com", "password123")
	authtest.WantCode(t, err, auth.CodeEmailTaken)
	_, err = e.Service.SignUp(ctx, "not-an-email", "password123")
	authtest.WantCode(t, err, auth.CodeInvalidRequest)
	_, err = e.Service.SignUp(ctx, "bob@example.com", "short")
	authtest.WantCode(t, err, auth.CodeInvalidRequest)

	g, err := e.Service.SignIn(ctx, "ALICE@example.com", "password123", auth.Meta{ClientID: "web", UserAgent: "ua", IP: "10.0.0.1"})
	if err != nil || g.AccessToken == "" || g.RefreshToken == "" || g.User.ID != u.ID {
		t.Fatalf("sign-in: %+v %v", g, err)
	}
	if !g.AccessExpiresAt.Equal(t0.Add(15*time.Minute)) || !g.RefreshExpiresAt.Equal(t0.Add(24*time.Hour)) ||
		!g.Session.AbsoluteExpiresAt.Equal(t0.Add(720*time.Hour)) {
		t.Fatalf("lifetimes: %+v", g)
	}
	// Unknown email and wrong password are the same answer.
	_, err1 := e.Service.SignIn(ctx, "nobody@example.com", "password123", auth.Meta{})
	_, err2 := e.Service.SignIn(ctx, "alice@example.com", "wrong-password", auth.Meta{})
	authtest.WantCode(t, err1, auth.CodeInvalidCredentials)
	authtest.WantCode(t, err2, auth.CodeInvalidCredentials)
	if err1.Error() != err2.Error() {
		t.Fatalf("distinguishable failures: %q vs %q", err1, err2)
	}
}

func TestRefreshRotatesAndSlides(t *testing.T) {
	e := newEnv(t, nil)
	g := e.SignIn(t, "a@example.com")
	e.Clock.Advance(time.Hour)
	g2 := e.Refresh(t, g.RefreshToken)
	if g2.RefreshToken == g.RefreshToken || g2.Session.Generation != 2 || g2.Reissued {
		t.Fatalf("not rotated: %+v", g2)
	}
	if !g2.RefreshExpiresAt.Equal(t0.Add(25 * time.Hour)) {
		t.Fatalf("refresh expiry did not slide: %v", g2.RefreshExpiresAt)
	}
	c, err := e.Service.Tokens().VerifyAccess(g2.AccessToken)
	if err != nil || c.SessionID != g.Session.ID || c.Subject != g.User.ID {
		t.Fatalf("new access token: %+v %v", c, err)
	}
}

func TestRotationOffReturnsTheSameToken(t *testing.T) {
	e := newEnv(t, func(p *auth.Policy) { p.Rotation = false })
	g := e.SignIn(t, "a@example.com")
	for range 3 {
		e.Clock.Advance(time.Minute)
		g2 := e.Refresh(t, g.RefreshToken)
		if g2.RefreshToken != g.RefreshToken || g2.AccessToken == g.AccessToken {
			t.Fatalf("rotation off must return the same refresh token and a new access token")
		}
	}
}

func TestInactiveUserCannotRefreshAndSessionIsRevoked(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	g := e.SignIn(t, "a@example.com")
	if _, err := e.Service.SetUserActive(ctx, "a@example.com", false); err != nil {
		t.Fatal(err)
	}
	_, err := e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	if c := auth.ErrorCode(err); c != auth.CodeSessionRevoked && c != auth.CodeUserInactive {
		t.Fatalf("inactive user refresh: %v", err)
	}
	_, err = e.Service.SignIn(ctx, "a@example.com", "password123", auth.Meta{})
	authtest.WantCode(t, err, auth.CodeUserInactive)
	if _, err := e.Service.SetUserActive(ctx, "a@example.com", true); err != nil {
		t.Fatal(err)
	}
	e.SignIn(t, "a@example.com")
}

func TestSignOutScopes(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a := e.SignIn(t, "a@example.com")
	b := e.SignIn(t, "a@example.com")
	c := e.SignIn(t, "a@example.com")
	pb, _ := e.Service.Authenticate(ctx, b.AccessToken)
	if err := e.Service.SignOut(ctx, pb, auth.ScopeOthers); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*auth.Grant{a, c} {
		_, err := e.Service.Refresh(ctx, x.RefreshToken, "", auth.Meta{})
		authtest.WantCode(t, err, auth.CodeSessionRevoked)
	}
	list, _ := e.Service.ListSessions(ctx, pb)
	if len(list) != 1 || !list[0].Current || list[0].ID != b.Session.ID {
		t.Fatalf("sessions after sign-out of others: %+v", list)
	}
	if err := e.Service.SignOut(ctx, pb, auth.ScopeLocal); err != nil {
		t.Fatal(err)
	}
	_, err := e.Service.Refresh(ctx, b.RefreshToken, "", auth.Meta{})
	authtest.WantCode(t, err, auth.CodeSessionRevoked)
	d := e.SignIn(t, "a@example.com")
	f := e.SignIn(t, "a@example.com")
	pd, _ := e.Service.Authenticate(ctx, d.AccessToken)
	if err := e.Service.SignOut(ctx, pd, auth.ScopeGlobal); err != nil {
		t.Fatal(err)
	}
	_, err = e.Service.Refresh(ctx, f.RefreshToken, "", auth.Meta{})
	authtest.WantCode(t, err, auth.CodeSessionRevoked)
}

func TestRevokeSessionOnlyOwn(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a := e.SignIn(t, "a@example.com")
	b := e.SignIn(t, "b@example.com")
	pa, _ := e.Service.Authenticate(ctx, a.AccessToken)
	authtest.WantCode(t, e.Service.RevokeSession(ctx, pa, b.Session.ID), auth.CodeNotFound)
	if err := e.Service.RevokeSession(ctx, pa, a.Session.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Service.Refresh(ctx, b.RefreshToken, "", auth.Meta{}); err != nil {
		t.Fatalf("b's session must be untouched: %v", err)
	}
}

func TestMaxSessionsEvictsLeastRecentlyRefreshed(t *testing.T) {
	e := newEnv(t, func(p *auth.Policy) { p.MaxSessionsPerUser = 2 })
	ctx := context.Background()
	first := e.SignIn(t, "a@example.com")
	e.Clock.Advance(time.Second)
	second := e.SignIn(t, "a@example.com")
	e.Clock.Advance(time.Second)
	if _, err := e.Service.Refresh(ctx, first.RefreshToken, "", auth.Meta{}); err != nil { // first is now the most recent
		t.Fatal(err)
	}
	e.Clock.Advance(time.Second)
	e.SignIn(t, "a@example.com")
	_, err := e.Service.Refresh(ctx, second.RefreshToken, "", auth.Meta{})
	authtest.WantCode(t, err, auth.CodeSessionRevoked)
}

func TestRenewAccess(t *testing.T) {
	e := newEnv(t, func(p *auth.Policy) { p.RefreshTTL = 20 * time.Minute })
	ctx := context.Background()
	g := e.SignIn(t, "a@example.com")
	e.Clock.Advance(10 * time.Minute)
	r, err := e.Service.RenewAccess(ctx, g.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	// Never past the session's refresh expiry (t0+20m), though the access TTL is 15m.
	if !r.AccessExpiresAt.Equal(t0.Add(20*time.Minute)) || r.RefreshToken != "" {
		t.Fatalf("renewal: %+v", r)
	}
	_, err = e.Service.RenewAccess(ctx, g.RefreshToken)
	authtest.WantCode(t, err, auth.CodeInvalidToken)
	p, _ := e.Service.Authenticate(ctx, g.AccessToken)
	_ = e.Service.SignOut(ctx, p, auth.ScopeLocal)
	_, err = e.Service.RenewAccess(ctx, g.AccessToken)
	authtest.WantCode(t, err, auth.CodeSessionRevoked)

	off := newEnv(t, func(p *auth.Policy) { p.AccessRenewal = false })
	g = off.SignIn(t, "a@example.com")
	_, err = off.Service.RenewAccess(ctx, g.AccessToken)
	authtest.WantCode(t, err, auth.CodeNotImplemented)
}

func TestRevokeAndIntrospect(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	g := e.SignIn(t, "a@example.com")
	for _, tok := range []string{g.AccessToken, g.RefreshToken} {
		in, err := e.Service.Introspect(ctx, tok, true)
		if err != nil || !in.Active || in.SessionID != g.Session.ID || in.Subject != g.User.ID {
			t.Fatalf("introspect: %+v %v", in, err)
		}
	}
	// A caller the server has not authenticated learns nothing about a
	// refresh token (RFC 7662 §2.1), but still about an access token.
	if in, err := e.Service.Introspect(ctx, g.RefreshToken, false); err != nil || in.Active || in.Subject != "" {
		t.Fatalf("refresh token, unauthenticated caller: %+v %v", in, err)
	}
	if in, err := e.Service.Introspect(ctx, g.AccessToken, false); err != nil || !in.Active || in.ClientID != "" {
		t.Fatalf("access token, unauthenticated caller: %+v %v", in, err)
	}
	if in, _ := e.Service.Introspect(ctx, "garbage", true); in.Active {
		t.Fatal("garbage is active")
	}
	if err := e.Service.RevokeToken(ctx, "garbage", "", "", auth.Meta{}); err != nil {
		t.Fatalf("unknown tokens revoke fine (RFC 7009 §2.2): %v", err)
	}
	if err := e.Service.RevokeToken(ctx, g.RefreshToken, "refresh_token", "some-client", auth.Meta{}); err != nil {
		t.Fatalf("a session without a client is revoked for any caller: %v", err)
	}
	for _, tok := range []string{g.AccessToken, g.RefreshToken} {
		if in, err := e.Service.Introspect(ctx, tok, true); err != nil || in.Active {
			t.Fatalf("after revocation: %+v %v", in, err)
		}
	}
	// A superseded refresh token introspects inactive.
	h := e.SignIn(t, "a@example.com")
	e.Refresh(t, h.RefreshToken)
	if in, _ := e.Service.Introspect(ctx, h.RefreshToken, true); in.Active {
		t.Fatal("superseded refresh token is active")
	}
}

func TestClientBinding(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.Service.SignUp(ctx, "a@example.com", "password123"); err != nil {
		t.Fatal(err)
	}
	g, err := e.Service.SignIn(ctx, "a@example.com", "password123", auth.Meta{ClientID: "app-1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Service.Refresh(ctx, g.RefreshToken, "app-2", auth.Meta{})
	authtest.WantCode(t, err, auth.CodeRefreshInvalid)
	// Leaving client_id out does not skip the check (RFC 9700 §4.14).
	_, err = e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	authtest.WantCode(t, err, auth.CodeRefreshInvalid)
	g2, err := e.Service.Refresh(ctx, g.RefreshToken, "app-1", auth.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	// The access tokens name the client (RFC 9068 §2.2); a session without
	// one names DefaultClientID.
	if p, _ := e.Service.Authenticate(ctx, g2.AccessToken); p.Claims.ClientID != "app-1" {
		t.Fatalf("client_id %q, want app-1", p.Claims.ClientID)
	}
	if p, _ := e.Service.Authenticate(ctx, e.SignIn(t, "a@example.com").AccessToken); p.Claims.ClientID != auth.DefaultClientID {
		t.Fatalf("client_id %q, want %q", p.Claims.ClientID, auth.DefaultClientID)
	}
	// Revocation: only the session's client may revoke its tokens (RFC
	// 7009 §2.1); another client, or none, changes nothing.
	for _, tok := range []string{g2.RefreshToken, g2.AccessToken} {
		for _, cid := range []string{"app-2", ""} {
			authtest.WantCode(t, e.Service.RevokeToken(ctx, tok, "", cid, auth.Meta{}), auth.CodeClientMismatch)
		}
	}
	if s, _ := e.Store.Session(ctx, g.Session.ID); s.Revoked() {
		t.Fatal("another client revoked the session")
	}
	if err := e.Service.RevokeToken(ctx, g2.AccessToken, "access_token", "app-1", auth.Meta{}); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.Store.Session(ctx, g.Session.ID); !s.Revoked() {
		t.Fatal("the session's own client did not revoke it")
	}
}

func TestUnavailableStore(t *testing.T) {
	e := newEnv(t, nil)
	g := e.SignIn(t, "a@example.com")
	e.Store.Close()
	_, err := e.Service.Refresh(context.Background(), g.RefreshToken, "", auth.Meta{})
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
	g := e.SignIn(b, "a@example.com")
	tok := g.RefreshToken
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		g, err := e.Service.Refresh(ctx, tok, "", auth.Meta{})
		if err != nil {
			b.Fatal(err)
		}
		tok = g.RefreshToken
	}
}

// An access token minted before tokens carried gen (gen absent, read as 0)
// renews when it was issued by the session's current generation (iat not
// before its last rotation), and is superseded when the session has rotated
// since: an upgrade signs no renewing client out, and a copy still stops
// renewing at the next rotation.
func TestRenewAccessWithoutGen(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	g := e.SignIn(t, "a@example.com")
	mint := genlessMinter(t, e, g)
	beforeRotation := mint()
	e.Clock.Advance(2 * time.Second)
	e.Refresh(t, g.RefreshToken)
	afterRotation := mint()
	e.Clock.Advance(time.Minute)
	r, err := e.Service.RenewAccess(ctx, afterRotation)
	if err != nil {
		t.Fatalf("a gen-less token of the current generation: %v", err)
	}
	if p, err := e.Service.Authenticate(ctx, r.AccessToken); err != nil || p.Claims.Generation != 2 {
		t.Fatalf("the renewed token: %+v %v; want gen 2", p, err)
	}
	_, err = e.Service.RenewAccess(ctx, beforeRotation)
	authtest.WantCode(t, err, auth.CodeAccessSuperseded)
}

// Attacks on the renewal of a gen-less access token (held): a stolen copy
// that renews gets a token of the session's current generation and so stops
// renewing at the next rotation, as that generation's own tokens do; with
// rotation off a refresh still stops gen-less tokens issued before it; and
// a refresh that comes a second after the copy's iat stops it, whatever the
// sub-second times. (A rotation within the same second as the copy's iat
// does not stop it: iat has whole seconds, and a token that the rotation
// itself issued has the same iat.)
func TestRenewAccessWithoutGenAttacks(t *testing.T) {
	ctx := context.Background()
	t.Run("a renewed copy stops at the next rotation", func(t *testing.T) {
		e := newEnv(t, nil)
		g := e.SignIn(t, "a@example.com")
		stolen := genlessMinter(t, e, g)()
		r, err := e.Service.RenewAccess(ctx, stolen)
		if err != nil {
			t.Fatalf("a gen-less token of the current generation: %v", err)
		}
		e.Clock.Advance(time.Second)
		e.Refresh(t, g.RefreshToken)
		for name, tok := range map[string]string{"the gen-less copy": stolen, "its renewal": r.AccessToken} {
			_, err := e.Service.RenewAccess(ctx, tok)
			if err == nil {
				t.Fatalf("%s renewed past a rotation", name)
			}
			authtest.WantCode(t, err, auth.CodeAccessSuperseded)
		}
	})
	t.Run("sub-second rotation in the next second", func(t *testing.T) {
		e := newEnv(t, nil)
		g := e.SignIn(t, "a@example.com")
		e.Clock.Advance(900 * time.Millisecond)
		stolen := genlessMinter(t, e, g)() // iat: the whole second before
		e.Clock.Advance(200 * time.Millisecond)
		e.Refresh(t, g.RefreshToken) // the next second, 0.2s after the copy
		_, err := e.Service.RenewAccess(ctx, stolen)
		authtest.WantCode(t, err, auth.CodeAccessSuperseded)
	})
	t.Run("rotation off", func(t *testing.T) {
		e := newEnv(t, func(p *auth.Policy) { p.Rotation = false })
		g := e.SignIn(t, "a@example.com")
		mint := genlessMinter(t, e, g)
		before := mint()
		e.Clock.Advance(2 * time.Second)
		e.Refresh(t, g.RefreshToken)
		after := mint()
		if _, err := e.Service.RenewAccess(ctx, after); err != nil {
			t.Fatalf("a gen-less token issued after the last refresh: %v", err)
		}
		_, err := e.Service.RenewAccess(ctx, before)
		authtest.WantCode(t, err, auth.CodeAccessSuperseded)
	})
}

// genlessMinter returns a function that mints, with the store's signing
// keys, an access token for g's session without gen (as tokens were before
// the claim existed), valid 15 minutes from the clock's now.
func genlessMinter(t *testing.T, e *authtest.Env, g *auth.Grant) func() string {
	old := token.Options{Issuer: "http://authtest", Audience: "latchkey", RefreshSecret: []byte(strings.Repeat("k", 32)),
		Leeway: 5 * time.Second, PublishRetiredFor: time.Hour, Now: e.Clock.Now}
	iss, err := token.NewIssuer(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.LoadKeys(t.Context(), e.Store, token.ES256, nil); err != nil {
		t.Fatal(err)
	}
	return func() string {
		t.Helper()
		tok, _, err := iss.MintAccess(token.AccessClaims{Subject: g.User.ID, SessionID: g.Session.ID,
			ExpiresAt: e.Clock.Now().Add(15 * time.Minute)}) // no Generation: a token from before gen
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

// A gen-less copy issued in the same second as a later rotation, or by an
// instance whose clock is ahead of the rotating one's, still renews once
// after that rotation (and its renewal then lasts until the next one).
func TestRenewAccessWithoutGenSameSecond(t *testing.T) {
	t.Skip("known: iat has whole seconds and the token a rotation issues has iat = the rotation's second, so a gen-less copy issued earlier in that second (or up to MaxClockSkew ahead by another instance's clock) cannot be told from it; only tokens minted before gen existed, for one access lifetime after the last such instance stops")
	e := newEnv(t, nil)
	ctx := context.Background()
	g := e.SignIn(t, "a@example.com")
	mint := genlessMinter(t, e, g)
	e.Clock.Advance(1100 * time.Millisecond)
	stolen := mint()
	e.Clock.Advance(500 * time.Millisecond)
	e.Refresh(t, g.RefreshToken) // the same second, after the copy
	_, err := e.Service.RenewAccess(ctx, stolen)
	authtest.WantCode(t, err, auth.CodeAccessSuperseded)
}
