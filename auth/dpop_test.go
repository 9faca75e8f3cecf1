package auth_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/auth/authtest"
	"github.com/latchkey-dev/latchkey/store"
)

// proof is a checked proof by the key of thumbprint jkt, fresh each call.
func proof(e *authtest.Env, jkt string) *auth.Proof {
	k := make([]byte, 32)
	rand.Read(k)
	return &auth.Proof{JKT: jkt, Key: k, Expires: e.Clock.Now().Add(time.Minute)}
}

func wantProofRefused(t *testing.T, err error, reason string) {
	t.Helper()
	var e *auth.Error
	if !errors.As(err, &e) || e.Code != auth.CodeInvalidDPoPProof || e.Reason != reason {
		t.Fatalf("err = %v, want invalid_dpop_proof (%s)", err, reason)
	}
}

func sameSession(t *testing.T, e *authtest.Env, want store.Session) {
	t.Helper()
	got, err := e.Store.Session(context.Background(), want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("session changed:\n got %+v\nwant %+v", got, want)
	}
}

func signInWith(t *testing.T, e *authtest.Env, m auth.Meta) *auth.Grant {
	t.Helper()
	if _, err := e.Service.SignUp(context.Background(), "d@example.com", authtest.Password); err != nil && auth.ErrorCode(err) != auth.CodeEmailTaken {
		t.Fatal(err)
	}
	g, err := e.Service.SignIn(context.Background(), "d@example.com", authtest.Password, m)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestDPoPBinding(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	g := signInWith(t, e, auth.Meta{Proof: proof(e, "key-A")})
	if g.Session.JKT != "key-A" || g.TokenType() != "DPoP" {
		t.Fatalf("sign-in with a proof: JKT %q, type %s", g.Session.JKT, g.TokenType())
	}
	c, err := e.Service.Tokens().VerifyAccess(g.AccessToken)
	if err != nil || c.JKT != "key-A" {
		t.Fatalf("access token cnf.jkt = %q, %v", c.JKT, err)
	}
	in, err := e.Service.Introspect(ctx, g.AccessToken, false)
	if err != nil || !in.Active || in.JKT != "key-A" {
		t.Fatalf("introspection %+v, %v", in, err)
	}
	before, _ := e.Store.Session(ctx, g.Session.ID)

	// Refused, each with the session unchanged: no proof, another key, an
	// invalid proof reported by the HTTP layer, a replayed proof.
	e.Clock.Advance(time.Minute)
	_, err = e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	wantProofRefused(t, err, auth.ReasonProofMissing)
	_, err = e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{Proof: proof(e, "key-B")})
	wantProofRefused(t, err, auth.ReasonKeyMismatch)
	_, err = e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{ProofError: auth.ProofRefused("htu", false, nil)})
	wantProofRefused(t, err, "htu")
	_, err = e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{ProofError: auth.ProofRefused("use_dpop_nonce", true, nil)})
	authtest.WantCode(t, err, auth.CodeUseDPoPNonce)
	sameSession(t, e, before)

	p := proof(e, "key-A")
	g2, err := e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{Proof: p})
	if err != nil || g2.Session.Generation != 2 || g2.TokenType() != "DPoP" {
		t.Fatalf("refresh with the key: %+v, %v", g2, err)
	}
	if c, _ := e.Service.Tokens().VerifyRefresh(g2.RefreshToken); c.JKT != "key-A" {
		t.Fatalf("refresh token cnf.jkt = %q", c.JKT)
	}
	after, _ := e.Store.Session(ctx, g.Session.ID)
	_, err = e.Service.Refresh(ctx, g2.RefreshToken, "", auth.Meta{Proof: p})
	wantProofRefused(t, err, auth.ReasonReplay)
	sameSession(t, e, after)

	// A superseded token without the key is refused for the key, not taken
	// for reuse: the session is not revoked.
	e.Clock.Advance(time.Hour)
	_, err = e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	wantProofRefused(t, err, auth.ReasonProofMissing)
	sameSession(t, e, after)
	// With the key it is reuse (whoever holds the key holds the session).
	_, err = e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{Proof: proof(e, "key-A")})
	authtest.WantCode(t, err, auth.CodeRefreshReused)
}

func TestDPoPBearerStaysBearer(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	g := signInWith(t, e, auth.Meta{})
	if g.Session.Bound() || g.TokenType() != "Bearer" {
		t.Fatalf("bearer sign-in: %+v", g.Session)
	}
	e.Clock.Advance(time.Minute)
	g2, err := e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{Proof: proof(e, "key-A")})
	if err != nil || g2.Session.Bound() || g2.TokenType() != "Bearer" {
		t.Fatalf("bearer refresh with a proof: %+v, %v", g2, err)
	}
	if c, _ := e.Service.Tokens().VerifyAccess(g2.AccessToken); c.JKT != "" {
		t.Fatalf("bearer session's access token bound to %q", c.JKT)
	}
	// An invalid proof is refused even on a bearer session.
	_, err = e.Service.Refresh(ctx, g2.RefreshToken, "", auth.Meta{ProofError: auth.ProofRefused("signature", false, nil)})
	wantProofRefused(t, err, "signature")
	if _, err := e.Service.Refresh(ctx, g2.RefreshToken, "", auth.Meta{}); err != nil {
		t.Fatalf("bearer refresh: %v", err)
	}
}

func TestDPoPSignInReplay(t *testing.T) {
	e := newEnv(t, nil)
	p := proof(e, "key-A")
	signInWith(t, e, auth.Meta{Proof: p})
	_, err := e.Service.SignIn(context.Background(), "d@example.com", authtest.Password, auth.Meta{Proof: p})
	wantProofRefused(t, err, auth.ReasonReplay)
	_, err = e.Service.SignIn(context.Background(), "d@example.com", authtest.Password,
		auth.Meta{ProofError: auth.ProofRefused("iat", false, nil)})
	wantProofRefused(t, err, "iat")
	sessions, _ := e.Store.ListSessions(context.Background(), "", e.Clock.Now())
	if len(sessions) != 1 {
		t.Fatalf("%d sessions after refused sign-ins", len(sessions))
	}
}
