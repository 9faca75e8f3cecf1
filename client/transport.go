package client

import (
	"context"
	"io"
	"net/http"
)

// Transport returns an http.RoundTripper that sends requests through base
// (http.DefaultTransport when nil) with the client's access token in an
// "Authorization: Bearer" header (RFC 6750 §2.1), or, for a session bound
// to the client's DPoP key (WithDPoP), in an "Authorization: DPoP" header
// with a DPoP header holding a new proof of the request (RFC 9449 §7.1; see
// DPoPTransport, which also retries once when a target asks for a nonce).
// Use it for the APIs that
// accept Latchkey access tokens, and only for them: every request it
// carries gets the token — except a redirect to another origin (scheme,
// host or port) than the request the caller made, which goes without it.
//
// It refreshes the access token shortly before it expires. While a refresh
// fails for a reason worth retrying (the token endpoint is down, say) and
// the access token has not expired, requests go on with it.
//
// When a request is answered 401 anyway, it is sent once more, with a new
// token, provided the request body can be sent again (it has none, or
// req.GetBody is set, as http.NewRequest does for in-memory bodies):
//   - if another request has refreshed meanwhile, with the newest token;
//   - otherwise, only if the answer's Bearer challenge says
//     error="invalid_token" (RFC 6750 §3.1; the server's clock is ahead,
//     say), after a refresh — and not if the token refused was itself got
//     by such a refresh, so a target that refuses every token costs at most
//     one rotation per scheduled refresh. Unless that token has been
//     accepted since, and has now expired by the target's clock (the
//     answer's Date is not before the token's exp claim): the machine slept,
//     say, and its clock, by which the client schedules refreshes, stood
//     still meanwhile.
//
// Otherwise the 401 is returned as it is. A second 401 is returned to the
// caller.
//
// When there is no session to continue, RoundTrip returns ErrNotSignedIn or
// the server's *Error, for which IsReauthRequired reports true; http.Client
// wraps it in a *url.Error, which errors.As sees through.
func (c *Client) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{c: c, base: c.DPoPTransport(base)}
}

type transport struct {
	c    *Client
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !redirectedWithin(req) {
		// http.Client strips credentials from a redirect to another host,
		// but only those the caller set: this one is added here.
		return t.base.RoundTrip(req)
	}
	ctx := req.Context()
	st, err := t.c.accessToken(ctx)
	if err != nil {
		closeBody(req.Body)
		return nil, err
	}
	resp, err := t.send(req, st, req.Body)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil // the body is gone: nothing to retry with
	}
	invalidToken := challengeError(resp.Header, "Bearer") == "invalid_token" || challengeError(resp.Header, "DPoP") == "invalid_token"
	next, retry, err := t.c.afterUnauthorized(ctx, st, invalidToken,
		expiredAt(st.tok.AccessToken, resp.Header))
	if err != nil {
		discard(resp)
		return nil, err
	}
	if !retry {
		return resp, nil
	}
	body := req.Body
	if body != nil && body != http.NoBody {
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	discard(resp)
	return t.send(req, next, body)
}

// afterUnauthorized decides what to do after the access token of used was
// refused, as invalid_token or not, and expired by the target's clock or
// not: it returns the tokens to retry with, or false to return the 401.
func (c *Client) afterUnauthorized(ctx context.Context, used state, invalidToken, expired bool) (state, bool, error) {
	c.mu.Lock()
	cur := c.st
	c.mu.Unlock()
	if cur.gen == used.gen {
		if !invalidToken || (cur.forced && !(expired && cur.accepted.Load())) {
			// A refusal for another reason, or of a token just got because
			// of a 401 and not since seen to work and expire: a new token
			// would fare no better.
			return cur, false, nil
		}
		// Refresh from the generation this request used: if another
		// request has refreshed meanwhile, this gets its tokens without a
		// request.
		var err error
		if cur, err = c.refresh(ctx, used.gen, needAfter401); err != nil {
			return cur, false, err
		}
	}
	cur, err := current(cur)
	if err != nil {
		return cur, false, err
	}
	return cur, cur.tok.AccessToken != used.tok.AccessToken, nil
}

// send sends a copy of req with st's access token and the given body (the
// RoundTripper contract forbids changing req itself), and records whether
// the target accepted the token.
func (t *transport) send(req *http.Request, st state, body io.ReadCloser) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Body = body
	if isDPoP(st.tok.TokenType) {
		// base, DPoPTransport, adds the proof.
		r.Header.Set("Authorization", "DPoP "+st.tok.AccessToken)
	} else {
		r.Header.Set("Authorization", "Bearer "+st.tok.AccessToken)
	}
	resp, err := t.base.RoundTrip(r)
	if err == nil && resp.StatusCode < 400 {
		st.accept()
	}
	return resp, err
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
