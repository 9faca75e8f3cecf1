package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/auth/authtest"
)

// An access token of a revoked session can neither list the user's sessions
// nor end others, such as the one the user starts after reuse detection
// (regression: these only verified the token, not its session).
func TestRevokedCallerCannotManageSessions(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	stolen := e.SignIn(t, "a@example.com")
	p, err := e.Service.Authenticate(ctx, stolen.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	e.Refresh(t, stolen.RefreshToken)
	e.Clock.Advance(time.Minute)
	_, err = e.Service.Refresh(ctx, stolen.RefreshToken, "", auth.Meta{})
	authtest.WantCode(t, err, auth.CodeRefreshReused)
	fresh := e.SignIn(t, "a@example.com")

	_, err = e.Service.ListSessions(ctx, p)
	authtest.WantCode(t, err, auth.CodeSessionRevoked)
	authtest.WantCode(t, e.Service.RevokeSession(ctx, p, fresh.Session.ID), auth.CodeSessionRevoked)
	authtest.WantCode(t, e.Service.SignOut(ctx, p, auth.ScopeGlobal), auth.CodeSessionRevoked)
	authtest.WantCode(t, e.Service.SignOut(ctx, p, auth.ScopeOthers), auth.CodeSessionRevoked)
	if err := e.Service.SignOut(ctx, p, auth.ScopeLocal); err != nil {
		t.Fatalf("signing out an already revoked session is idempotent: %v", err)
	}
	if _, err := e.Service.Refresh(ctx, fresh.RefreshToken, "", auth.Meta{}); err != nil {
		t.Fatalf("the new session must be untouched: %v", err)
	}
}
