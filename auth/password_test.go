package auth_test

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/auth/authtest"
	lkmail "github.com/latchkey-dev/latchkey/mail"
	"github.com/latchkey-dev/latchkey/store"
)

// composer is a real mail composer (the e-mails are queued in the store).
func composer(t *testing.T) auth.Mailer {
	t.Helper()
	tm, err := lkmail.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := lkmail.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return &lkmail.Composer{From: mail.Address{Address: "no-reply@example.com"}, Templates: tm, Sealer: sealer,
		Links: map[store.TokenKind]string{store.TokenPasswordReset: "https://app.example.com/#reset=",
			store.TokenEmailVerification: "https://app.example.com/#verify="}}
}

// With the application's own Users, every password route answers
// CodeNotImplemented saying the passwords are the application's (not
// naming SMTP_URL, which would not help): Latchkey holds no password to
// change. With the built-in users and no Mailer, the e-mail flows name
// SMTP_URL, and the change works.
func TestPasswordFlowsNeedBuiltinUsers(t *testing.T) {
	ctx := context.Background()
	p := auth.Principal{UserID: "u", SessionID: "s"}
	app := authtest.Service(t, openSQLite(t), time.Now, func(o *auth.Options) {
		o.Users, o.Mailer = newBcryptUsers(t), composer(t)
	})
	for name, err := range map[string]error{
		"change":  app.ChangePassword(ctx, p, "old password 1", "new password 2", true),
		"recover": app.RequestPasswordReset(ctx, "ann@example.com"),
		"reset":   app.ResetPassword(ctx, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "new password 2"),
		"verify":  app.VerifyEmail(ctx, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
		"resend":  app.ResendVerification(ctx, "ann@example.com"),
	} {
		var e *auth.Error
		if !errors.As(err, &e) || e.Code != auth.CodeNotImplemented || e.Message != "passwords are managed by the application" {
			t.Errorf("%s with the application's users: %v", name, err)
		}
	}
	if _, err := app.AdminSetPassword(ctx, "ann@example.com", "new password 2"); auth.ErrorCode(err) != auth.CodeNotImplemented {
		t.Errorf("set-password with the application's users: %v", err)
	}

	builtin := authtest.Service(t, openSQLite(t), time.Now, nil)
	for name, err := range map[string]error{
		"recover": builtin.RequestPasswordReset(ctx, "ann@example.com"),
		"verify":  builtin.VerifyEmail(ctx, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
		"resend":  builtin.ResendVerification(ctx, "ann@example.com"),
	} {
		var e *auth.Error
		if !errors.As(err, &e) || e.Code != auth.CodeNotImplemented || !strings.Contains(e.Message, "SMTP_URL") {
			t.Errorf("%s without a mailer: %v", name, err)
		}
	}
}
