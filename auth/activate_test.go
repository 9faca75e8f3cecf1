package auth_test

import (
	"context"
	"testing"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/auth/authtest"
	"github.com/latchkey-dev/latchkey/store/sqlite"
)

// changeAfterRead is a real SQLite store whose UserByEmail runs changed
// after reading, once: another administrator's write landing between the
// read and the write of the operation under test.
type changeAfterRead struct {
	*sqlite.DB
	changed func()
}

func (s *changeAfterRead) UserByEmail(ctx context.Context, email string) (auth.User, error) {
	u, err := s.DB.UserByEmail(ctx, email)
	if f := s.changed; f != nil {
		s.changed = nil
		f()
	}
	return u, err
}

// Activating a user writes its status only: a password an administrator
// set after the activation read the user stays (activation wrote back the
// hash it had read, and the new password was lost).
func TestActivateKeepsAPasswordSetMeanwhile(t *testing.T) {
	st := &changeAfterRead{DB: openSQLite(t).(*sqlite.DB)}
	e := authtest.New(t, st, nil)
	ctx := context.Background()
	e.SignIn(t, "a@example.com")
	if _, err := e.Service.SetUserActive(ctx, "a@example.com", false); err != nil {
		t.Fatal(err)
	}
	st.changed = func() {
		if _, err := e.Service.AdminSetPassword(ctx, "a@example.com", "a new password 1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Service.SetUserActive(ctx, "a@example.com", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Service.SignIn(ctx, "a@example.com", "a new password 1", auth.Meta{}); err != nil {
		t.Fatalf("the password set while activating: %v", err)
	}
	if _, err := e.Service.SignIn(ctx, "a@example.com", authtest.Password, auth.Meta{}); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatalf("the old password after activation: %v, want invalid_credentials", err)
	}
}
