package client

import (
	"context"

	"golang.org/x/oauth2"
)

// TokenSource returns an oauth2.TokenSource (golang.org/x/oauth2) of the
// client's access tokens, for code built on x/oauth2, e.g.
// oauth2.NewClient(ctx, c.TokenSource()). Token returns the current access
// token and refreshes it shortly before it expires, sharing refreshes with
// every other user of the client. Expiry is by the client's clock.
//
// Unlike Transport, x/oauth2 does not retry on a 401. When there is no
// session to continue, Token returns an error for which IsReauthRequired
// reports true.
func (c *Client) TokenSource() oauth2.TokenSource { return tokenSource{c} }

type tokenSource struct{ c *Client }

func (s tokenSource) Token() (*oauth2.Token, error) {
	st, err := s.c.accessToken(context.Background())
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: st.tok.AccessToken, TokenType: "Bearer",
		RefreshToken: st.tok.RefreshToken, Expiry: st.tok.Expiry}, nil
}
