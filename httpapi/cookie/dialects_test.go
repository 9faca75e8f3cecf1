package cookie_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

func TestDialectOff(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.Dialects = config.Dialects{latchkey.Canonical} })
	ck := signIn(t, s) // canonical still sets the cookie (REFRESH_COOKIE=on)
	r := refresh(t, s, ck.Value)
	if r.Status != http.StatusNotFound {
		t.Fatalf("cookie dialect off: %d %s", r.Status, r.Body)
	}
	// Untouched: the token still refreshes through canonical.
	if r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": ck.Value}); r.Status != http.StatusOK {
		t.Fatalf("canonical refresh: %d %s", r.Status, r.Body)
	}
}

// DIALECTS=cookie alone: the route serves a session started elsewhere (here
// by the domain directly, as an embedding application would).
func TestDialectAlone(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.Dialects = config.Dialects{latchkey.Cookie} })
	ctx := context.Background()
	if _, err := s.App.Service.SignUp(ctx, ann, pw); err != nil {
		t.Fatal(err)
	}
	g, err := s.App.Service.SignIn(ctx, ann, pw, auth.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	r := refresh(t, s, g.RefreshToken)
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	refreshCookie(t, r)
	for _, p := range []string{"/auth/sign-in", "/auth/login", "/oauth/token"} {
		if r := s.Do(t, "POST", p, `{}`, "Content-Type: application/json"); r.Status != http.StatusNotFound {
			t.Fatalf("%s with only cookie on: %d %s", p, r.Status, r.Body)
		}
	}
}
