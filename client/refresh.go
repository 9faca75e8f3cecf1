package client

import (
	"context"
	"errors"
)

// Refresh trades the refresh token for new tokens now (POST /token, RFC
// 6749 §6), whether or not the access token is due, and keeps them; the
// OnTokens hook sees them. Calls that need an access token refresh by
// themselves, so few applications call Refresh.
//
// A refresh already in progress is joined rather than repeated. After a
// refresh failed for a reason worth retrying, the client holds further
// refreshes for a while (at least the server's Retry-After, and at least
// one second, growing while they keep failing); until then Refresh returns
// the last failure at once, without a request.
//
// When the server refuses the refresh for good (IsReauthRequired), the
// client drops its tokens and the OnTokens hook sees the zero Tokens.
// Other errors leave the tokens as they were, to be tried again.
func (c *Client) Refresh(ctx context.Context) (Tokens, error) {
	c.mu.Lock()
	gen := c.st.gen
	c.mu.Unlock()
	st, err := c.refresh(ctx, gen, needNow)
	if err != nil {
		return Tokens{}, err
	}
	return st.tok, nil
}

// need says how badly a caller of refresh needs new tokens.
type need int

const (
	// needNow: the caller has no usable access token (or asked for a
	// refresh): it waits for the outcome.
	needNow need = iota
	// needSoon: the access token is due but still valid. The caller starts
	// a refresh if none is in progress and waits for its first attempt, but
	// it does not wait for someone else's refresh, for retries or for the
	// OnTokens hook: it goes on with the access token it has.
	needSoon
	// needAfter401: a target refused the access token. Like needNow, and
	// the tokens this refresh gets are marked forced.
	needAfter401
)

// errInProgress tells a needSoon caller that a refresh is still going on:
// use the access token you have.
var errInProgress = errors.New("latchkey: a refresh is in progress")

// accessToken returns the current state if its access token is good to
// use, and otherwise refreshes. While the access token has not expired, a
// refresh that fails for a reason worth retrying (the network, a 5xx, a
// 429) does not fail the call: the access token is used as it is.
func (c *Client) accessToken(ctx context.Context) (state, error) {
	c.mu.Lock()
	st := c.st
	c.mu.Unlock()
	if st.tok.AccessToken != "" && c.now().Before(st.refreshAt) {
		return st, nil
	}
	usable := func() bool { return st.tok.AccessToken != "" && c.now().Before(st.tok.Expiry) }
	if st.tok.RefreshToken == "" {
		// Nothing to refresh with: an access token alone is used until it
		// expires.
		if usable() {
			return st, nil
		}
		return st, ErrNotSignedIn
	}
	n := needNow
	if usable() {
		n = needSoon
	}
	nst, err := c.refresh(ctx, st.gen, n)
	if err == nil || ctx.Err() != nil || IsReauthRequired(err) || errors.Is(err, ErrOnTokensFailed) {
		return nst, err
	}
	if usable() {
		return st, nil
	}
	if errors.Is(err, errInProgress) {
		// The access token expired while the refresh went on: wait for it.
		return c.refresh(ctx, st.gen, needNow)
	}
	return nst, err
}

// refresh replaces the tokens of generation seen with new ones, and returns
// the current state.
//
// All goroutines that ask to refresh the same generation share one flight
// (one request at a time, and its retries), and a goroutine that asks after
// the generation has changed gets the current tokens without a request:
// the client never presents a refresh token it has already traded, so it
// never trips the server's reuse detection by itself (RFC 6819 §5.2.2.3).
//
// The flight is detached from ctx: a caller that gives up must not cancel
// a refresh the server may already have carried out, or the client would
// keep a superseded refresh token. The caller stops waiting on ctx alone.
func (c *Client) refresh(ctx context.Context, seen uint64, n need) (state, error) {
	now := c.now()
	c.mu.Lock()
	st := c.st
	if st.gen != seen {
		// The tokens changed since the caller looked (another refresh, a
		// sign-in or sign-out): use the current ones.
		c.mu.Unlock()
		return current(st)
	}
	if st.tok.RefreshToken == "" {
		c.mu.Unlock()
		return st, ErrNotSignedIn
	}
	f := c.fl
	if f != nil && f.gen == seen {
		if n == needSoon {
			c.mu.Unlock()
			return st, errInProgress
		}
		if n == needAfter401 {
			f.forced = true
		}
	} else {
		if c.held.gen == seen && now.Before(c.held.until) {
			err := c.held.err
			c.mu.Unlock()
			return st, err
		}
		f = &flight{gen: seen, forced: n == needAfter401, done: make(chan struct{}), firstOver: make(chan struct{})}
		c.fl = f
		go c.fly(context.WithoutCancel(ctx), f, st)
	}
	f.waiting++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		f.waiting--
		c.mu.Unlock()
	}()
	var firstOver <-chan struct{} // nil: wait for the outcome
	if n == needSoon {
		firstOver = f.firstOver
	}
	select {
	case <-f.done:
		return f.st, f.err
	case <-firstOver:
		select {
		case <-f.done:
			return f.st, f.err
		default:
			return st, errInProgress
		}
	case <-ctx.Done():
		return state{}, ctx.Err()
	}
}

// current returns st, or ErrNotSignedIn when it holds no access token.
func current(st state) (state, error) {
	if st.tok.AccessToken == "" {
		return st, ErrNotSignedIn
	}
	return st, nil
}
