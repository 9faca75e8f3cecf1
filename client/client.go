package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client talks to one Latchkey server's canonical API and holds one
// session's tokens. It is safe for concurrent use.
type Client struct {
	base string // the base URL, without a trailing slash
	// hc carries the calls to the Latchkey server: the application's HTTP
	// client, except that it never follows a redirect to another origin
	// (the bodies carry passwords and refresh tokens).
	hc     *http.Client
	now    func() time.Time
	timer  func(time.Duration, func()) (stop func() bool) // time.AfterFunc's shape
	margin time.Duration                                  // 0: the default (min(30s, lifetime/10))
	save   func(Tokens)

	attemptTimeout time.Duration // bounds one refresh request
	reuseInterval  time.Duration // the server's REFRESH_TOKEN_REUSE_INTERVAL

	// authed carries the calls that need an access token (Me, Sessions,
	// SignOut, RevokeSession) through the client's own Transport.
	authed *http.Client

	// saveMu orders token changes and the OnTokens calls that report them,
	// so a hook never sees an older set after a newer one.
	saveMu sync.Mutex
	mu     sync.Mutex
	st     state   // guarded by mu
	fl     *flight // the refresh in progress, if any; guarded by mu
	held   hold    // guarded by mu

	dpopState // WithDPoP
}

// state is the client's current tokens. gen grows with every change, so a
// goroutine can tell whether the tokens it used are still the current ones.
type state struct {
	tok       Tokens
	refreshAt time.Time // when to refresh the access token, by the client's clock
	gen       uint64
	// forced is true when these tokens come from a refresh that a 401 asked
	// for: a 401 for them does not rotate again (see Transport), unless
	// they were accepted since and have expired at the target.
	forced bool
	// accepted is set once a target has answered a request carrying the
	// access token with a status below 400 (nil in the zero state).
	accepted *atomic.Bool
}

// accept records that a target took st's access token.
func (st state) accept() {
	if st.accepted != nil {
		st.accepted.Store(true)
	}
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client used for calls to the Latchkey server
// (default http.DefaultClient).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithClock sets the clock the client schedules refreshes by (default
// time.Now). Tests use it to make time pass without sleeping.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithTimers sets how the client waits: afterFunc(d, f) calls f on a
// goroutine of its own once d has passed, unless the returned stop is
// called first, and stop reports whether it prevented the call, as with
// time.AfterFunc (the default). The client waits so for the timeout of one
// refresh attempt (WithRefreshAttemptTimeout), the pause before retrying
// one, and the bound on TokenSource's Token. Tests pass a fake clock's
// AfterFunc, with its Now to WithClock, so the client's timing is tested
// without sleeping.
func WithTimers(afterFunc func(d time.Duration, f func()) (stop func() bool)) Option {
	return func(c *Client) { c.timer = afterFunc }
}

// The defaults of WithRefreshAttemptTimeout and WithReuseInterval.
const (
	DefaultRefreshAttemptTimeout = 3 * time.Second
	DefaultReuseInterval         = 10 * time.Second
)

// WithRefreshAttemptTimeout bounds one refresh request, from sending it to
// reading the whole answer (default DefaultRefreshAttemptTimeout, 3s). An
// attempt that gets no answer in time may still have been carried out by
// the server, so the client retries it with the same refresh token, which
// works only within the server's reuse interval (WithReuseInterval): keep
// the timeout well under half of that interval.
func WithRefreshAttemptTimeout(d time.Duration) Option {
	return func(c *Client) { c.attemptTimeout = d }
}

// WithReuseInterval tells the client the server's
// REFRESH_TOKEN_REUSE_INTERVAL (default DefaultReuseInterval, 10s, the
// server's default): for that long after a rotation the server answers the
// previous refresh token with the current tokens instead of treating it as
// stolen. When a refresh's outcome is unknown (no answer, a broken one, a
// 5xx), the client retries with the same token only while the retry can
// finish within this interval of the first attempt. Set it to the server's
// value if that was changed; 0 turns such prompt retries off.
func WithReuseInterval(d time.Duration) Option {
	return func(c *Client) { c.reuseInterval = d }
}

// WithRefreshMargin sets how long before the access token expires the
// client refreshes it. The default is 30 seconds or a tenth of the token's
// lifetime, whichever is smaller. A margin as long as the lifetime makes
// every call refresh.
func WithRefreshMargin(d time.Duration) Option { return func(c *Client) { c.margin = d } }

// WithTokens starts the client with tokens persisted earlier (see
// OnTokens), resuming that session without signing in. A refresh token
// alone is enough: the first call that needs an access token refreshes.
func WithTokens(t Tokens) Option {
	return func(c *Client) { c.st = state{tok: t, gen: 1, accepted: new(atomic.Bool)} }
}

// OnTokens registers a hook called with every new set of tokens: after
// SignIn and after every refresh, so the application can persist the
// refresh token, which changes at every refresh when the server rotates
// refresh tokens (its default). It is called with the zero Tokens when the
// session ends (SignOut, or a refresh the server refused for good), so
// persisted tokens can be forgotten.
//
// Calls are made one at a time, in the order the tokens changed, and new
// tokens are used only after the hook has returned: persist before
// returning. Until then, calls go on with the previous access token, and a
// refresh waits, so a crash while the hook runs leaves the persisted
// refresh token at most one generation behind the server's, which the
// server still accepts within its reuse interval. An application that
// restarts with an older refresh token is treated as a thief and its
// session revoked.
//
// The hook may call Tokens (which still returns the previous tokens) and
// no other method: one that needs an access token (Me, Sessions,
// RevokeSession, a request through Transport, TokenSource's Token) may
// wait for the refresh in progress, which waits for the hook, until the
// call's context ends; Refresh does; SignIn and SignOut wait for ever.
// Hand such work to another goroutine.
//
// If the hook panics or calls runtime.Goexit, the client recovers: the call
// that got the tokens returns an error that wraps ErrOnTokensFailed, and
// the tokens are kept in memory (the server has already rotated) but were
// not persisted.
func OnTokens(f func(Tokens)) Option { return func(c *Client) { c.save = f } }

// New returns a client of the Latchkey server at baseURL, e.g.
// "https://auth.example.com" or, for a server mounted under a prefix,
// "https://example.com/auth-service".
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		// url.Error repeats the URL as it was given, password and all.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("latchkey: base URL %q: %w", redacted(baseURL), err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("latchkey: base URL %q: want an absolute http or https URL", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("latchkey: base URL %q: must not have a query or fragment", u.Redacted())
	}
	c := &Client{base: strings.TrimSuffix(u.String(), "/"), hc: http.DefaultClient, now: time.Now, timer: afterFunc,
		attemptTimeout: DefaultRefreshAttemptTimeout, reuseInterval: DefaultReuseInterval}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.timer == nil {
		c.timer = afterFunc
	}
	if c.margin < 0 {
		return nil, fmt.Errorf("latchkey: negative refresh margin %v", c.margin)
	}
	if c.attemptTimeout <= 0 {
		return nil, fmt.Errorf("latchkey: the refresh attempt timeout must be positive, got %v", c.attemptTimeout)
	}
	if c.reuseInterval < 0 {
		return nil, fmt.Errorf("latchkey: negative reuse interval %v", c.reuseInterval)
	}
	if c.st.gen != 0 {
		c.st.refreshAt = c.st.tok.Expiry.Add(-c.marginFor(0))
	}
	if err := c.setUpDPoP(); err != nil {
		return nil, err
	}
	c.measureSkew(c.st.tok)
	app := c.hc
	server := *app
	server.CheckRedirect = sameOriginRedirects(app.CheckRedirect)
	c.hc = &server
	authed := *app
	authed.Transport = c.Transport(app.Transport)
	c.authed = &authed
	return c, nil
}

// redacted returns the URL raw, which need not parse, with the password of
// its userinfo replaced by "xxxxx", as url.URL.Redacted does.
func redacted(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	start := len(raw) - len(rest)
	authority := rest
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		authority = rest[:end]
	}
	at := strings.LastIndex(authority, "@")
	colon := strings.Index(authority, ":")
	if at < 0 || colon < 0 || colon > at {
		return raw
	}
	return raw[:start+colon+1] + "xxxxx" + raw[start+at:]
}

// afterFunc is time.AfterFunc with the shape of WithTimers.
func afterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// sleep waits for d by the client's timers.
func (c *Client) sleep(d time.Duration) {
	done := make(chan struct{})
	c.timer(d, func() { close(done) })
	<-done
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
// ifGen (pass 0 to replace unconditionally). The OnTokens hook sees them
// first: they become the current tokens, usable by other goroutines, only
// after it has returned. f is the refresh that got them (nil for others).
// It returns the current state, whether it changed, and the hook's failure.
func (c *Client) setTokens(t Tokens, lifetime time.Duration, ifGen uint64, f *flight) (state, bool, error) {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	// Only setTokens changes c.st, under saveMu: what is read here is still
	// current when the tokens are published below.
	c.mu.Lock()
	if ifGen != 0 && c.st.gen != ifGen {
		st := c.st
		c.mu.Unlock()
		return st, false, nil
	}
	c.mu.Unlock()
	err := c.persist(t)
	c.measureSkew(t)
	c.mu.Lock()
	c.st = state{tok: t, refreshAt: t.Expiry.Add(-c.marginFor(lifetime)), gen: c.st.gen + 1, forced: f != nil && f.forced,
		accepted: new(atomic.Bool)}
	st := c.st
	c.mu.Unlock()
	return st, true, err
}

// ErrOnTokensFailed is wrapped by the error of a call whose new tokens the
// OnTokens hook failed to take: it panicked or called runtime.Goexit. The
// tokens are kept in memory, but they were not persisted.
var ErrOnTokensFailed = errors.New("latchkey: the OnTokens hook failed")

// persist calls the OnTokens hook with t. The hook runs on a goroutine of its
// own, so that neither a panic nor a runtime.Goexit in it can take down the
// refresh it is part of, or leave the callers waiting for that refresh
// hanging; either is reported as an error.
func (c *Client) persist(t Tokens) error {
	if c.save == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() {
		returned := false
		defer func() {
			if returned {
				return
			}
			if r := recover(); r != nil {
				done <- fmt.Errorf("%w: it panicked: %v", ErrOnTokensFailed, r)
				return
			}
			done <- fmt.Errorf("%w: it called runtime.Goexit", ErrOnTokensFailed)
		}()
		c.save(t)
		returned = true
		done <- nil
	}()
	return <-done
}

// do sends a JSON request to the server with hc and decodes a JSON answer
// into out (when not nil). Statuses other than 2xx become *Error.
func (c *Client) do(ctx context.Context, hc *http.Client, method, path string, in, out any) error {
	return c.exchange(ctx, hc, method, path, in, out, false)
}

// doSigned is do for a token request (sign-in, refresh): with WithDPoP it
// carries a new DPoP proof (RFC 9449 §5). A refused proof means the server
// did nothing else, so the request is sent again, with a new proof, once
// for each of two reasons: the server asks for a nonce (use_dpop_nonce,
// §8), which the answer brought; or the proof's iat is out of the server's
// window (the client's clock is off, and no token has told the client the
// server's time yet), which is then taken from the answer's Date.
func (c *Client) doSigned(ctx context.Context, method, path string, in, out any) error {
	return c.exchange(ctx, c.hc, method, path, in, out, c.key != nil)
}

func (c *Client) exchange(ctx context.Context, hc *http.Client, method, path string, in, out any, signed bool) error {
	var raw []byte
	if in != nil {
		var err error
		if raw, err = json.Marshal(in); err != nil {
			return err
		}
	}
	nonceRetried, clockRetried := false, false
	for {
		var body io.Reader
		if in != nil {
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
		if signed {
			p, err := c.proof(method, req.URL, "")
			if err != nil {
				return fmt.Errorf("latchkey: signing a DPoP proof: %w", err)
			}
			req.Header.Set("DPoP", p)
		}
		var ans answerMeta
		err = c.read(hc, req, method, path, out, &ans)
		var e *Error
		if !signed || !errors.As(err, &e) {
			return err
		}
		switch {
		case e.Code == CodeUseDPoPNonce && ans.nonce && !nonceRetried:
			nonceRetried = true
		case e.Code == CodeInvalidDPoPProof && e.Reason == "iat" && !clockRetried:
			date, perr := http.ParseTime(ans.date)
			if perr != nil {
				return err // no server time to retry by
			}
			clockRetried = true
			c.setSkew(date.Sub(ans.received))
		default:
			return err
		}
	}
}

// answerMeta is what exchange looks at in an answer besides its body.
type answerMeta struct {
	nonce    bool      // it carried a DPoP-Nonce
	date     string    // its Date (the server's clock), parsed only when needed
	received time.Time // when it came, by the client's clock
}

// read sends req with hc and reads its answer as do says.
func (c *Client) read(hc *http.Client, req *http.Request, method, path string, out any, ans *answerMeta) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	ans.received = c.now()
	ans.date = resp.Header.Get("Date")
	ans.nonce = c.learnNonce(resp.Request.URL, resp.Header)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Redirects to another origin are not followed (sameOriginRedirects):
		// they end here, as errors.
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
	// An HTTP-date Retry-After is a time by the server's clock: measure it
	// from the answer's Date (RFC 9110 §6.6.1), by the same clock, so that
	// a client whose own clock is wrong still waits as long as asked.
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		date = c.now()
	}
	e := &Error{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), date)}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var b struct {
		Error   string `json:"error"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
	}
	if json.Unmarshal(raw, &b) == nil && b.Error != "" {
		e.Code, e.Message, e.Reason = b.Error, b.Message, b.Reason
	}
	return e
}
