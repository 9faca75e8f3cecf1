package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Client talks to one Latchkey server's canonical API and holds one
// session's tokens. It is safe for concurrent use.
type Client struct {
	base   string // the base URL, without a trailing slash
	hc     *http.Client
	now    func() time.Time
	margin time.Duration // 0: the default (min(30s, lifetime/10))
	save   func(Tokens)

	// authed carries the calls that need an access token (Me, Sessions,
	// SignOut, RevokeSession) through the client's own Transport.
	authed *http.Client

	// saveMu orders token changes and the OnTokens calls that report them,
	// so a hook never sees an older set after a newer one.
	saveMu sync.Mutex
	mu     sync.Mutex
	st     state // guarded by mu

	flight singleflight.Group
}

// state is the client's current tokens. gen grows with every change, so a
// goroutine can tell whether the tokens it used are still the current ones.
type state struct {
	tok       Tokens
	refreshAt time.Time // when to refresh the access token, by the client's clock
	gen       uint64
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client used for calls to the Latchkey server
// (default http.DefaultClient).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithClock sets the clock the client schedules refreshes by (default
// time.Now). Tests use it to make time pass without sleeping.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithRefreshMargin sets how long before the access token expires the
// client refreshes it. The default is 30 seconds or a tenth of the token's
// lifetime, whichever is smaller. A margin as long as the lifetime makes
// every call refresh.
func WithRefreshMargin(d time.Duration) Option { return func(c *Client) { c.margin = d } }

// WithTokens starts the client with tokens persisted earlier (see
// OnTokens), resuming that session without signing in. A refresh token
// alone is enough: the first call that needs an access token refreshes.
func WithTokens(t Tokens) Option {
	return func(c *Client) { c.st = state{tok: t, gen: 1} }
}

// OnTokens registers a hook called with every new set of tokens: after
// SignIn and after every refresh, so the application can persist the
// refresh token, which changes at every refresh when the server rotates
// refresh tokens (its default). It is called with the zero Tokens when the
// session ends (SignOut, or a refresh the server refused for good), so
// persisted tokens can be forgotten.
//
// Calls are made one at a time, in the order the tokens changed. The hook
// may call Tokens but must not call methods that sign in, refresh or sign
// out. Persist before returning: an application that restarts with a
// superseded refresh token is treated as a thief and its session revoked.
func OnTokens(f func(Tokens)) Option { return func(c *Client) { c.save = f } }

// New returns a client of the Latchkey server at baseURL, e.g.
// "https://auth.example.com" or, for a server mounted under a prefix,
// "https://example.com/auth-service".
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("latchkey: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("latchkey: base URL %q: want an absolute http or https URL", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("latchkey: base URL %q: must not have a query or fragment", baseURL)
	}
	c := &Client{base: strings.TrimSuffix(u.String(), "/"), hc: http.DefaultClient, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	if c.margin < 0 {
		return nil, fmt.Errorf("latchkey: negative refresh margin %v", c.margin)
	}
	if c.st.gen != 0 {
		c.st.refreshAt = c.st.tok.Expiry.Add(-c.marginFor(0))
	}
	authed := *c.hc
	authed.Transport = c.Transport(c.hc.Transport)
	c.authed = &authed
	return c, nil
}

// Tokens returns the client's current tokens (zero when not signed in).
func (c *Client) Tokens() Tokens {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.tok
}

// marginFor returns how long before expiry a token with the given lifetime
// (0 when unknown) is refreshed.
func (c *Client) marginFor(lifetime time.Duration) time.Duration {
	if c.margin > 0 {
		return c.margin
	}
	m := 30 * time.Second
	if lifetime > 0 && lifetime/10 < m {
		m = lifetime / 10
	}
	return m
}

// setTokens replaces the tokens, unless they changed since generation
// ifGen (pass 0 to replace unconditionally), and reports the change to the
// OnTokens hook. It returns the current state.
func (c *Client) setTokens(t Tokens, lifetime time.Duration, ifGen uint64) (state, bool) {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	c.mu.Lock()
	if ifGen != 0 && c.st.gen != ifGen {
		st := c.st
		c.mu.Unlock()
		return st, false
	}
	c.st.gen++
	c.st.tok = t
	c.st.refreshAt = t.Expiry.Add(-c.marginFor(lifetime))
	st := c.st
	c.mu.Unlock()
	if c.save != nil {
		c.save(t)
	}
	return st, true
}

// do sends a JSON request to the server with hc and decodes a JSON answer
// into out (when not nil). Error statuses become *Error.
func (c *Client) do(ctx context.Context, hc *http.Client, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return c.errorOf(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("latchkey: %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// errorOf reads an error answer into an *Error.
func (c *Client) errorOf(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), c.now())}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var b struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &b) == nil && b.Error != "" {
		e.Code, e.Message = b.Error, b.Message
	}
	return e
}
