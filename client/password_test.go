package client_test

import (
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/client"
	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// mailEnv is newEnv with the server's mail sender running; without
// SMTP_URL, in development, it logs each link, which linkOf reads.
func mailEnv(t *testing.T, mod func(*config.Config)) *env {
	t.Helper()
	e := &env{srv: servertest.Start(t, mod), clock: testkit.NewClock(servertest.Epoch), hits: newCounter()}
	e.srv.App.StartMail()
	return e
}

// linkOf waits for the n-th development link of kind ("reset", "verify")
// in the server's log and returns its token.
func (e *env) linkOf(t *testing.T, kind string, n int) string {
	t.Helper()
	re := regexp.MustCompile(`"mail_link":"[^"]*#` + kind + `=([A-Za-z0-9_-]{43})"`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindAllStringSubmatch(e.srv.Logs.String(), -1); len(m) >= n {
			return m[n-1][1]
		}
	}
	t.Fatalf("no %d-th %s link in the server's log", n, kind)
	return ""
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("%s: %v, want an *Error with Code %s", what, err, code)
	}
	if client.IsReauthRequired(err) {
		t.Fatalf("%s: %v counts as reauthentication required", what, err)
	}
}

// The client's password calls against a real server: a change ends the
// other client's session and keeps this one's; a reset (the link from the
// server's development log) ends every session; wrong inputs are typed
// errors that do not drop the tokens.
func TestClientPasswordLifecycle(t *testing.T) {
	e := mailEnv(t, nil)
	ctx := t.Context()
	const email = "client-pw@example.com"
	me, other := e.signedIn(t, email), e.signedIn(t, email)

	wantCode(t, "wrong current password", me.ChangePassword(ctx, "not it", "brand new password", true), client.CodeInvalidCurrentPassword)
	if err := me.ChangePassword(ctx, password, "brand new password", true); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Refresh(ctx); !client.IsReauthRequired(err) {
		t.Fatalf("the other client's refresh after the change: %v, want reauthentication required", err)
	}
	if _, err := me.Refresh(ctx); err != nil {
		t.Fatalf("this client's refresh after the change: %v", err)
	}

	anon := e.client(t)
	if err := anon.RequestPasswordReset(ctx, "nobody@example.com"); err != nil {
		t.Fatalf("reset for an unknown address: %v", err)
	}
	if err := anon.RequestPasswordReset(ctx, email); err != nil {
		t.Fatal(err)
	}
	tok := e.linkOf(t, "reset", 1)
	wantCode(t, "a forged token", anon.ResetPassword(ctx, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "another password"), client.CodeEmailTokenInvalid)
	if err := anon.ResetPassword(ctx, tok, "another password"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a used token", anon.ResetPassword(ctx, tok, "yet another password"), client.CodeEmailTokenInvalid)
	if _, err := me.Refresh(ctx); !client.IsReauthRequired(err) {
		t.Fatalf("refresh after the reset: %v, want reauthentication required", err)
	}
	if _, err := anon.SignIn(ctx, email, "another password"); err != nil {
		t.Fatal(err)
	}
}

// Under REQUIRE_EMAIL_VERIFICATION the client's SignIn is refused with
// CodeEmailNotVerified until VerifyEmail takes the link's token; a resend
// voids the first link.
func TestClientEmailVerification(t *testing.T) {
	e := mailEnv(t, func(c *config.Config) { c.RequireEmailVerification = true })
	ctx := t.Context()
	c := e.client(t)
	const email = "client-verify@example.com"
	if _, err := c.SignUp(ctx, email, password); err != nil {
		t.Fatal(err)
	}
	first := e.linkOf(t, "verify", 1)
	_, err := c.SignIn(ctx, email, password)
	wantCode(t, "sign-in before verifying", err, client.CodeEmailNotVerified)
	if err := c.ResendVerification(ctx, email); err != nil {
		t.Fatal(err)
	}
	second := e.linkOf(t, "verify", 2)
	wantCode(t, "the replaced link", c.VerifyEmail(ctx, first), client.CodeEmailTokenInvalid)
	if err := c.VerifyEmail(ctx, second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SignIn(ctx, email, password); err != nil {
		t.Fatal(err)
	}
}
