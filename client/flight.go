package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// A refresh's timing. Its first attempt is bounded by the attempt timeout
// (WithRefreshAttemptTimeout). When the outcome is unknown, it is retried
// with the same refresh token after firstRetryPause, doubled at each retry, or
// the server's Retry-After if longer, up to maxAttempts attempts, and only
// while the retry can end within the reuse interval of the first attempt's
// start (WithReuseInterval). After a refresh failed, the next one waits at
// least holdBase, doubled at each further failure up to holdMax, plus up to
// a quarter more at random, and at least the server's Retry-After.
const (
	firstRetryPause = 250 * time.Millisecond
	maxAttempts     = 4
	holdBase        = time.Second
	holdMax         = 30 * time.Second
)

// flight is one refresh of one generation: its attempts and their retries,
// shared by every goroutine that needs it.
type flight struct {
	gen uint64 // the generation it refreshes
	// forced is set when a 401 asked for this refresh (guarded by
	// Client.mu); see state.forced.
	forced bool
	// waiting counts the goroutines waiting for it (guarded by Client.mu).
	waiting int
	// firstOver is closed when the first attempt is over but the flight is
	// not: the attempt failed and is retried, or it succeeded and the
	// OnTokens hook is persisting its tokens; at the latest with done. A
	// caller whose access token is still valid waits no longer.
	firstOver chan struct{}
	// done is closed when st and err are set.
	done chan struct{}
	st   state
	err  error
}

// hold keeps a generation's refreshes from being tried again too soon after
// one failed, for a reason worth retrying.
type hold struct {
	gen      uint64
	failures int       // refreshes of gen that failed in a row
	until    time.Time // by the client's clock
	err      error     // the last failure, returned until then
}

// answer is the body of a successful POST /token.
type answer struct {
	AccessToken      string `json:"accessToken"`
	RefreshToken     string `json:"refreshToken"`
	TokenType        string `json:"tokenType"`
	ExpiresIn        int64  `json:"expiresIn"`
	RefreshExpiresIn int64  `json:"refreshExpiresIn"`
}

// fly carries out f, which refreshes st, and lands it.
func (c *Client) fly(ctx context.Context, f *flight, st state) {
	defer c.land(f)
	start := c.now()
	unknown := false // whether an attempt so far may have been carried out
	for n := 1; ; n++ {
		ans, sent, err := c.attempt(ctx, st.tok.RefreshToken)
		if err == nil {
			if c.save != nil {
				f.endFirst() // the hook may take long
			}
			f.st, f.err = c.keep(ans, sent, st, f)
			return
		}
		if IsReauthRequired(err) {
			nst, _, herr := c.setTokens(Tokens{}, 0, st.gen, nil)
			f.st, f.err = nst, err
			if herr != nil {
				f.err = errors.Join(err, herr)
			}
			return
		}
		unknown = unknown || outcomeUnknown(err)
		pause, ok := c.retryPause(n, start, unknown, err)
		if !ok {
			c.holdAfter(st.gen, err)
			f.st, f.err = st, err
			return
		}
		f.endFirst()
		c.sleep(pause)
		c.mu.Lock()
		cur := c.st
		c.mu.Unlock()
		if cur.gen != st.gen {
			// Signed in or out meanwhile: the retry has no purpose.
			f.st, f.err = current(cur)
			return
		}
	}
}

// land ends f: later refreshes start a flight of their own, and its
// waiters get its outcome.
func (c *Client) land(f *flight) {
	c.mu.Lock()
	if c.fl == f {
		c.fl = nil
	}
	c.mu.Unlock()
	close(f.done)
	f.endFirst()
}

// endFirst closes f.firstOver, unless it is closed already. Only the
// flight's own goroutine calls it.
func (f *flight) endFirst() {
	select {
	case <-f.firstOver:
	default:
		close(f.firstOver)
	}
}

// errAttemptTimeout cancels an attempt that took longer than the attempt
// timeout.
var errAttemptTimeout = errors.New("latchkey: refresh attempt timed out")

// attempt sends one refresh request, bounded by the attempt timeout, and
// returns the answer and the time it was sent.
func (c *Client) attempt(ctx context.Context, refreshToken string) (answer, time.Time, error) {
	ctx, stop := c.bound(ctx, c.attemptTimeout, errAttemptTimeout)
	defer stop()
	in := struct {
		RefreshToken string `json:"refreshToken"`
	}{refreshToken}
	var out answer
	sent := c.now()
	// A proof is made for every attempt: a retry is a new request, and a
	// proof is accepted once (RFC 9449 §11.1).
	err := c.doSigned(ctx, http.MethodPost, "/token", in, &out)
	switch {
	case err != nil && errors.Is(context.Cause(ctx), errAttemptTimeout):
		return out, sent, fmt.Errorf("latchkey: POST /token: no answer within %v; the server may have rotated the token: %w",
			c.attemptTimeout, errAttemptTimeout)
	case err == nil && out.AccessToken == "":
		return out, sent, errors.New("latchkey: POST /token: the answer has no access token")
	}
	return out, sent, err
}

// bound returns a context that is cancelled with cause after d by the
// client's timers, and a function that releases it.
func (c *Client) bound(parent context.Context, d time.Duration, cause error) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	stop := c.timer(d, func() { cancel(cause) })
	return ctx, func() {
		stop()
		cancel(nil)
	}
}

// keep takes the tokens of a successful refresh of st, sent at sent.
func (c *Client) keep(ans answer, sent time.Time, st state, f *flight) (state, error) {
	// Within the server's reuse interval a repeated refresh token is
	// answered with the session's current tokens rather than new ones; they
	// are as good, so whatever comes back is kept.
	t := Tokens{AccessToken: ans.AccessToken, RefreshToken: ans.RefreshToken, TokenType: ans.TokenType,
		Expiry: after(sent, ans.ExpiresIn), RefreshExpiry: after(sent, ans.RefreshExpiresIn),
		SessionExpiry: st.tok.SessionExpiry}
	if t.RefreshToken == "" {
		t.RefreshToken, t.RefreshExpiry = st.tok.RefreshToken, st.tok.RefreshExpiry
	}
	nst, changed, err := c.setTokens(t, seconds(ans.ExpiresIn), st.gen, f)
	if err != nil {
		return nst, err
	}
	if !changed {
		return current(nst)
	}
	return nst, nil
}

// outcomeUnknown reports whether a failed refresh may have been carried out
// by the server all the same: no answer (a network error, a timeout), an
// answer that could not be read, or a 5xx, which a proxy or the server can
// send after the rotation was committed. An answer with another status (a
// 4xx, a redirect not followed) says the token was not traded.
func outcomeUnknown(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status >= 500
	}
	return true
}

// retryAfterOf returns the server's Retry-After carried by err, if any.
func retryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// retryPause returns how long to wait before retrying attempt n of a refresh
// that started at start and failed with err, or false if it must not be
// retried now: no attempt's outcome is unknown, or the retry could not end
// within the reuse interval of the start (past it, if the server did
// rotate, the same token would be taken for a stolen one). An answer that
// says its own attempt was not carried out (a 429, say) leaves an earlier
// attempt's outcome unknown: the refresh is still retried.
func (c *Client) retryPause(n int, start time.Time, unknown bool, err error) (time.Duration, bool) {
	if n >= maxAttempts || !unknown {
		return 0, false
	}
	d := firstRetryPause << (n - 1)
	if ra := retryAfterOf(err); ra > d {
		d = ra
	}
	if c.now().Sub(start)+d+c.attemptTimeout > c.reuseInterval {
		return 0, false
	}
	return d, true
}

// holdAfter holds the refreshes of generation gen after a failed one.
func (c *Client) holdAfter(gen uint64, err error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.gen != gen {
		return
	}
	if c.held.gen != gen {
		c.held = hold{gen: gen}
	}
	c.held.failures++
	d := holdMax
	if c.held.failures <= 5 {
		d = min(holdBase<<(c.held.failures-1), holdMax)
	}
	d += rand.N(d/4 + 1)
	if ra := retryAfterOf(err); ra > d {
		d = ra
	}
	c.held.until, c.held.err = now.Add(d), err
}
