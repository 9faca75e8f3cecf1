package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// SignUp creates a user (POST /auth/sign-up). It does not sign in. A taken
// email is an *Error with Code CodeEmailTaken.
func (c *Client) SignUp(ctx context.Context, email, password string) (User, error) {
	var out struct {
		User User `json:"user"`
	}
	err := c.do(ctx, c.hc, http.MethodPost, "/auth/sign-up", credentials{email, password}, &out)
	return out.User, err
}

// SignIn signs in (POST /auth/sign-in) and keeps the new session's tokens
// in the client, replacing any it held; the OnTokens hook sees them first.
// With WithDPoP the request carries a proof, and the session is bound to
// the client's key (Tokens.TokenType "DPoP") if the server has DPoP on.
// Wrong credentials are an *Error with Code CodeInvalidCredentials.
func (c *Client) SignIn(ctx context.Context, email, password string) (Tokens, error) {
	var out struct {
		AccessToken      string    `json:"accessToken"`
		RefreshToken     string    `json:"refreshToken"`
		TokenType        string    `json:"tokenType"`
		ExpiresIn        int64     `json:"expiresIn"`
		RefreshExpiresIn int64     `json:"refreshExpiresIn"`
		SessionExpiresAt time.Time `json:"sessionExpiresAt"`
		ServerTime       time.Time `json:"serverTime"`
		User             User      `json:"user"`
	}
	sent := c.now()
	if err := c.doSigned(ctx, http.MethodPost, "/auth/sign-in", credentials{email, password}, &out); err != nil {
		return Tokens{}, err
	}
	t := Tokens{AccessToken: out.AccessToken, RefreshToken: out.RefreshToken, TokenType: out.TokenType,
		Expiry: after(sent, out.ExpiresIn), RefreshExpiry: after(sent, out.RefreshExpiresIn)}
	if !out.SessionExpiresAt.IsZero() && !out.ServerTime.IsZero() {
		// The absolute cap is in the server's time; carry it over to the
		// client's clock through the server's time of the answer.
		t.SessionExpiry = sent.Add(out.SessionExpiresAt.Sub(out.ServerTime))
	}
	if _, _, err := c.setTokens(t, seconds(out.ExpiresIn), 0, nil); err != nil {
		return t, err
	}
	return t, nil
}

// SignOut ends sessions (POST /auth/sign-out): ScopeLocal (this one; also
// the server's default for ""), ScopeOthers (every other session of the
// user) or ScopeGlobal (all of them). Unless the scope is ScopeOthers, the
// client drops its tokens — also when the server says the session had
// already ended — and the OnTokens hook sees the zero Tokens. After other
// failures (the network, say) the tokens are kept so the call can be
// retried.
func (c *Client) SignOut(ctx context.Context, scope string) error {
	var in any
	if scope != "" {
		in = struct {
			Scope string `json:"scope"`
		}{scope}
	}
	err := c.do(ctx, c.authed, http.MethodPost, "/auth/sign-out", in, nil)
	if scope != ScopeOthers && (err == nil || IsReauthRequired(err)) {
		if _, _, herr := c.setTokens(Tokens{}, 0, 0, nil); herr != nil {
			return errors.Join(err, herr)
		}
	}
	return err
}

// Me returns the signed-in user (GET /auth/me).
func (c *Client) Me(ctx context.Context) (User, error) {
	var out struct {
		User User `json:"user"`
	}
	err := c.do(ctx, c.authed, http.MethodGet, "/auth/me", nil, &out)
	return out.User, err
}

// Sessions returns the user's live sessions (GET /auth/sessions); the one
// the client is using has Current set.
func (c *Client) Sessions(ctx context.Context) ([]Session, error) {
	var out struct {
		Sessions []Session `json:"sessions"`
	}
	err := c.do(ctx, c.authed, http.MethodGet, "/auth/sessions", nil, &out)
	return out.Sessions, err
}

// RevokeSession ends one of the user's sessions by id (DELETE
// /auth/sessions/{id}); a session that is not the user's is an *Error with
// Code CodeNotFound. Revoking the current session does not drop the
// client's tokens: its next refresh fails with CodeSessionRevoked.
func (c *Client) RevokeSession(ctx context.Context, id string) error {
	return c.do(ctx, c.authed, http.MethodDelete, "/auth/sessions/"+url.PathEscape(id), nil, nil)
}

func seconds(s int64) time.Duration { return time.Duration(s) * time.Second }

// after returns t plus s seconds, or the zero time when s is not positive
// (the lifetime is unknown).
func after(t time.Time, s int64) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	return t.Add(seconds(s))
}
