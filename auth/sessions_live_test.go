package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
)

// An access token of a revoked session can neither list the user's sessions
// nor end others, such as the one the user starts after reuse detection
// (regression: these only verified the token, not its session).
func TestRevokedCallerCannotManageSessions(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	stolen := e.signIn(t, "a@example.com")
	p, err := e.svc.Authenticate(ctx, stolen.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Refresh(ctx, stolen.RefreshToken, "", auth.Meta{}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	_, err = e.svc.Refresh(ctx, stolen.RefreshToken, "", auth.Meta{})
	wantCode(t, err, auth.CodeRefreshReused)
	fresh := e.signIn(t, "a@example.com")

	_, err = e.svc.ListSessions(ctx, p)
	wantCode(t, err, auth.CodeSessionRevoked)
	wantCode(t, e.svc.RevokeSession(ctx, p, fresh.Session.ID), auth.CodeSessionRevoked)
	wantCode(t, e.svc.SignOut(ctx, p, auth.ScopeGlobal), auth.CodeSessionRevoked)
	wantCode(t, e.svc.SignOut(ctx, p, auth.ScopeOthers), auth.CodeSessionRevoked)
	if err := e.svc.SignOut(ctx, p, auth.ScopeLocal); err != nil {
		t.Fatalf("signing out an already revoked session is idempotent: %v", err)
	}
	if _, err := e.svc.Refresh(ctx, fresh.RefreshToken, "", auth.Meta{}); err != nil {
		t.Fatalf("the new session must be untouched: %v", err)
	}
}
