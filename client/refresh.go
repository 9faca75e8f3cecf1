package client

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// refreshTimeout bounds a refresh request. The request runs detached from
// the caller's context (see refresh), so it needs a bound of its own.
const refreshTimeout = time.Minute

// Refresh trades the refresh token for new tokens now (POST /token, RFC
// 6749 §6), whether or not the access token is due, and keeps them; the
// OnTokens hook sees them. Calls that need an access token refresh by
// themselves, so few applications call Refresh.
//
// When the server refuses the refresh for good (IsReauthRequired), the
// client drops its tokens and the OnTokens hook sees the zero Tokens.
// Other errors leave the tokens as they were, to be tried again.
func (c *Client) Refresh(ctx context.Context) (Tokens, error) {
	c.mu.Lock()
	gen := c.st.gen
	c.mu.Unlock()
	st, err := c.refresh(ctx, gen)
	if err != nil {
		return Tokens{}, err
	}
	return st.tok, nil
}

// accessToken returns the current state if its access token is good to
// use, and otherwise refreshes.
func (c *Client) accessToken(ctx context.Context) (state, error) {
	c.mu.Lock()
	st := c.st
	c.mu.Unlock()
	now := c.now()
	if st.tok.AccessToken != "" && now.Before(st.refreshAt) {
		return st, nil
	}
	if st.tok.RefreshToken == "" {
		// Nothing to refresh with: an access token alone is used until it
		// expires.
		if st.tok.AccessToken != "" && now.Before(st.tok.Expiry) {
			return st, nil
		}
		return st, ErrNotSignedIn
	}
	return c.refresh(ctx, st.gen)
}

// refresh replaces the tokens of generation seen with new ones, and returns
// the current state.
//
// All goroutines that ask to refresh the same generation share one request
// (single-flight), and a goroutine that asks after the generation has
// changed gets the current tokens without a request: the client never
// presents a refresh token it has already traded, so it never trips the
// server's reuse detection by itself (RFC 6819 §5.2.2.3).
//
// The request is detached from ctx: a caller that gives up must not cancel
// a refresh the server may already have carried out, or the client would
// keep a superseded refresh token. The caller stops waiting on ctx alone.
func (c *Client) refresh(ctx context.Context, seen uint64) (state, error) {
	detached := context.WithoutCancel(ctx)
	ch := c.flight.DoChan(strconv.FormatUint(seen, 10), func() (any, error) {
		return c.refreshFrom(detached, seen)
	})
	select {
	case r := <-ch:
		st, _ := r.Val.(state)
		return st, r.Err
	case <-ctx.Done():
		return state{}, ctx.Err()
	}
}

// refreshFrom is one refresh request, run by at most one goroutine per
// generation at a time.
func (c *Client) refreshFrom(ctx context.Context, seen uint64) (state, error) {
	c.mu.Lock()
	st := c.st
	c.mu.Unlock()
	if st.gen != seen {
		// The tokens changed since the caller looked (another refresh, a
		// sign-in or sign-out): use the current ones.
		return current(st)
	}
	if st.tok.RefreshToken == "" {
		return st, ErrNotSignedIn
	}
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	var out struct {
		AccessToken      string `json:"accessToken"`
		RefreshToken     string `json:"refreshToken"`
		TokenType        string `json:"tokenType"`
		ExpiresIn        int64  `json:"expiresIn"`
		RefreshExpiresIn int64  `json:"refreshExpiresIn"`
	}
	sent := c.now()
	in := struct {
		RefreshToken string `json:"refreshToken"`
	}{st.tok.RefreshToken}
	if err := c.do(ctx, c.hc, http.MethodPost, "/token", in, &out); err != nil {
		if IsReauthRequired(err) {
			c.setTokens(Tokens{}, 0, seen)
		}
		return st, err
	}
	// Within the server's reuse interval a repeated refresh token is
	// answered with the session's current tokens rather than new ones; they
	// are as good, so whatever comes back is kept.
	t := Tokens{AccessToken: out.AccessToken, RefreshToken: out.RefreshToken, TokenType: out.TokenType,
		Expiry: after(sent, out.ExpiresIn), RefreshExpiry: after(sent, out.RefreshExpiresIn),
		SessionExpiry: st.tok.SessionExpiry}
	if t.RefreshToken == "" {
		t.RefreshToken, t.RefreshExpiry = st.tok.RefreshToken, st.tok.RefreshExpiry
	}
	nst, _ := c.setTokens(t, seconds(out.ExpiresIn), seen)
	return current(nst)
}

// current returns st, or ErrNotSignedIn when it holds no access token.
func current(st state) (state, error) {
	if st.tok.AccessToken == "" {
		return st, ErrNotSignedIn
	}
	return st, nil
}
