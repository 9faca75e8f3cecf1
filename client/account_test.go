package client_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/client"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

func isCode(err error, code string) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Code == code
}

func TestSignUpSignInMe(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	ctx := t.Context()

	u, err := c.SignUp(ctx, " Ada@Example.com ", password)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == "" || u.Email != "ada@example.com" || u.Status != "active" {
		t.Errorf("SignUp = %+v", u)
	}
	_, err = c.SignUp(ctx, "ada@example.com", password)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusConflict || ce.Code != client.CodeEmailTaken || ce.Message == "" {
		t.Errorf("second SignUp: %v; want 409 email_taken", err)
	}
	if _, err := c.Me(ctx); !errors.Is(err, client.ErrNotSignedIn) || !client.IsReauthRequired(err) {
		t.Errorf("Me before SignIn: %v; want ErrNotSignedIn", err)
	}

	_, err = c.SignIn(ctx, "ada@example.com", "wrong password")
	if !isCode(err, client.CodeInvalidCredentials) || client.IsReauthRequired(err) {
		t.Errorf("SignIn with a wrong password: %v; want invalid_credentials, not a reauth error", err)
	}

	tok, err := c.SignIn(ctx, "ada@example.com", password)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" {
		t.Errorf("SignIn = %+v", tok)
	}
	// Times are the client's clock plus the server's lifetimes.
	now := e.clock.Now()
	for _, tt := range []struct {
		name      string
		got, want time.Time
	}{
		{"Expiry", tok.Expiry, now.Add(accessLifetime)},
		{"RefreshExpiry", tok.RefreshExpiry, now.Add(24 * time.Hour)},
		{"SessionExpiry", tok.SessionExpiry, now.Add(720 * time.Hour)},
	} {
		if !tt.got.Equal(tt.want) {
			t.Errorf("%s = %v; want %v", tt.name, tt.got, tt.want)
		}
	}
	if c.Tokens() != tok {
		t.Errorf("Tokens() = %+v; want the sign-in's %+v", c.Tokens(), tok)
	}
	me, err := c.Me(ctx)
	if err != nil || me.ID != u.ID {
		t.Errorf("Me = %+v, %v; want %s", me, err, u.ID)
	}
}

func TestSessionsRevokeSignOut(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	laptop := e.signedIn(t, "bo@example.com")
	phone := e.signedIn(t, "bo@example.com")

	list, err := laptop.Sessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("Sessions = %d; want 2", len(list))
	}
	var phoneID string
	for _, s := range list {
		if !s.Current {
			phoneID = s.ID
		}
	}
	if phoneID == "" {
		t.Fatalf("no other session in %+v", list)
	}

	if err := laptop.RevokeSession(ctx, "no-such-session"); !isCode(err, client.CodeNotFound) {
		t.Errorf("RevokeSession(unknown) = %v; want not_found", err)
	}
	if err := laptop.RevokeSession(ctx, phoneID); err != nil {
		t.Fatal(err)
	}
	// The phone's access token lives on until it expires (it is verified
	// without the database); its next refresh says the session is over.
	_, err = phone.Refresh(ctx)
	if !client.IsReauthRequired(err) || !isCode(err, client.CodeSessionRevoked) {
		t.Errorf("Refresh of a revoked session = %v; want session_revoked", err)
	}
	if phone.Tokens() != (client.Tokens{}) {
		t.Errorf("the phone kept its tokens after session_revoked: %+v", phone.Tokens())
	}

	if err := laptop.SignOut(ctx, client.ScopeLocal); err != nil {
		t.Fatal(err)
	}
	if laptop.Tokens() != (client.Tokens{}) {
		t.Errorf("Tokens after SignOut = %+v; want none", laptop.Tokens())
	}
	if _, err := laptop.Me(ctx); !errors.Is(err, client.ErrNotSignedIn) {
		t.Errorf("Me after SignOut = %v; want ErrNotSignedIn", err)
	}
}

func TestSignOutOthersKeepsThisSession(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	a := e.signedIn(t, "cy@example.com")
	b := e.signedIn(t, "cy@example.com")
	if err := a.SignOut(ctx, client.ScopeOthers); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Refresh(ctx); err != nil {
		t.Errorf("Refresh after signing out the others: %v", err)
	}
	if _, err := b.Refresh(ctx); !isCode(err, client.CodeSessionRevoked) {
		t.Errorf("Refresh of a signed-out session = %v; want session_revoked", err)
	}
}

// A session revoked elsewhere (sign-out everywhere on another device) makes
// the next refresh, here one the client makes by itself when the access
// token is due, fail with an error that says "sign in again"; the client
// drops its tokens and tells the OnTokens hook.
func TestReauthRequiredAfterRevokedElsewhere(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	var saved []client.Tokens
	here := e.signedIn(t, "di@example.com", client.OnTokens(func(t client.Tokens) { saved = append(saved, t) }))
	there := e.signedIn(t, "di@example.com")
	if err := there.SignOut(ctx, client.ScopeGlobal); err != nil {
		t.Fatal(err)
	}

	e.clock.Advance(accessLifetime)
	e.srv.Clock.Advance(accessLifetime)
	_, err := here.Me(ctx)
	var ce *client.Error
	if !client.IsReauthRequired(err) || !errors.As(err, &ce) || ce.Code != client.CodeSessionRevoked || ce.Status != http.StatusBadRequest {
		t.Fatalf("Me after a global sign-out elsewhere = %v; want a 400 session_revoked", err)
	}
	if len(saved) != 2 || saved[1] != (client.Tokens{}) {
		t.Errorf("OnTokens saw %d sets, the last %+v; want the sign-in's, then none", len(saved), saved[len(saved)-1])
	}

	// Through the Transport the error arrives wrapped in a *url.Error.
	api := &http.Client{Transport: here.Transport(nil)}
	_, err = api.Get(e.srv.URL + "/auth/me")
	if !client.IsReauthRequired(err) {
		t.Errorf("Transport after the session ended = %v; want a reauth error", err)
	}
}

func TestNewRejectsBadBaseURLs(t *testing.T) {
	for _, u := range []string{"", "auth.example.com", "ftp://auth.example.com", "http://", "https://a.example/?x=1", "http://a b"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
	if _, err := client.New("https://a.example", client.WithRefreshMargin(-1)); err == nil {
		t.Error("New with a negative margin succeeded")
	}
	// A trailing slash is fine.
	s := servertest.Start(t, nil)
	for _, u := range []string{s.URL, s.URL + "/"} {
		c, err := client.New(u)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.SignUp(t.Context(), "ed@example.com", password); err != nil && !isCode(err, client.CodeEmailTaken) {
			t.Errorf("%s: %v", u, err)
		}
	}
}
