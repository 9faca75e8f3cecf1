package client

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/oauth2"
)

// TokenSource returns an oauth2.TokenSource (golang.org/x/oauth2) of the
// client's access tokens, for code built on x/oauth2, e.g.
// oauth2.NewClient(ctx, c.TokenSource()). Token returns the current access
// token and refreshes it shortly before it expires, sharing refreshes with
// every other user of the client. Expiry is by the client's clock.
//
// Token has no context, so it bounds its own wait: when no access token is
// to be had within the attempt timeout plus the reuse interval (13s by
// default, time for a refresh and its retries), it returns an error
// wrapping context.DeadlineExceeded. The refresh goes on without it.
//
// For a session bound to a DPoP key (WithDPoP) the token's type is "DPoP":
// x/oauth2 sends it as "Authorization: DPoP", and the proof each request
// needs is added by DPoPTransport, as x/oauth2's Transport's Base.
//
// Unlike Transport, x/oauth2 does not retry on a 401. When there is no
// session to continue, Token returns an error for which IsReauthRequired
// reports true.
func (c *Client) TokenSource() oauth2.TokenSource { return tokenSource{c} }

type tokenSource struct{ c *Client }

// errTokenWait ends Token's wait.
var errTokenWait = errors.New("latchkey: Token waited too long")

func (s tokenSource) Token() (*oauth2.Token, error) {
	wait := s.c.attemptTimeout + s.c.reuseInterval
	ctx, stop := s.c.bound(context.Background(), wait, errTokenWait)
	defer stop()
	st, err := s.c.accessToken(ctx)
	if err != nil {
		if errors.Is(context.Cause(ctx), errTokenWait) {
			return nil, fmt.Errorf("latchkey: no access token within %v: %w", wait, context.DeadlineExceeded)
		}
		return nil, err
	}
	typ := "Bearer"
	if isDPoP(st.tok.TokenType) {
		typ = "DPoP"
	}
	return &oauth2.Token{AccessToken: st.tok.AccessToken, TokenType: typ,
		RefreshToken: st.tok.RefreshToken, Expiry: st.tok.Expiry}, nil
}
