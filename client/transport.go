package client

import (
	"io"
	"net/http"
)

// Transport returns an http.RoundTripper that sends requests through base
// (http.DefaultTransport when nil) with the client's access token in an
// "Authorization: Bearer" header (RFC 6750 §2.1). Use it for the APIs that
// accept Latchkey access tokens, and only for them: every request it
// carries gets the token.
//
// It refreshes the access token shortly before it expires. When a request
// is answered 401 anyway (the server's clock is ahead, say), it refreshes
// once — unless another request already did — and retries once, provided
// the request body can be sent again (it has none, or req.GetBody is set,
// as http.NewRequest does for in-memory bodies); otherwise the 401 is
// returned as it is. A second 401 is returned to the caller.
//
// When there is no session to continue, RoundTrip returns ErrNotSignedIn or
// the server's *Error, for which IsReauthRequired reports true; http.Client
// wraps it in a *url.Error, which errors.As sees through.
func (c *Client) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{c: c, base: base}
}

type transport struct {
	c    *Client
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	st, err := t.c.accessToken(ctx)
	if err != nil {
		closeBody(req.Body)
		return nil, err
	}
	resp, err := t.send(req, st.tok, req.Body)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	body := req.Body
	if body != nil && body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil // the body is gone: nothing to retry with
		}
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	// Refresh from the generation this request used: if another request
	// has refreshed meanwhile, this gets its tokens without a request.
	next, err := t.c.refresh(ctx, st.gen)
	if err != nil {
		closeBody(body)
		discard(resp)
		return nil, err
	}
	discard(resp)
	return t.send(req, next.tok, body)
}

// send sends a copy of req with the access token and the given body; the
// RoundTripper contract forbids changing req itself.
func (t *transport) send(req *http.Request, tok Tokens, body io.ReadCloser) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Body = body
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return t.base.RoundTrip(r)
}

// discard drains a little of resp's body, so the connection can be reused,
// and closes it.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
}

func closeBody(b io.ReadCloser) {
	if b != nil {
		b.Close()
	}
}
