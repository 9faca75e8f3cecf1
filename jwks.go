package latchkey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-dev/latchkey/token"
)

// RemoteOptions configure RemoteKeys. Every zero field takes its default.
type RemoteOptions struct {
	// Client makes the requests (http.Client's defaults, bounded by Timeout,
	// when nil). Whatever the client, a redirect from https to plain http is
	// refused (the keys would be open to anyone on the path); a client with
	// its own CheckRedirect decides the other redirects, and without one at
	// most 10 are followed.
	Client *http.Client
	// Timeout bounds one fetch (default 5s). A fetch runs on a context of
	// its own, not on the request that needed it: a caller that gives up
	// stops waiting, but the fetch the other callers share goes on.
	Timeout time.Duration
	// MaxAge is how long fetched keys are fresh (default 5m): a rotation is
	// picked up at the latest then.
	MaxAge time.Duration
	// MaxStale is how long past MaxAge the keys are still used while a
	// refresh has not succeeded (default 1h): a known kid is answered at once
	// from the stale set while the refresh runs in the background, so an
	// outage of the JWKS URL shorter than MaxStale costs nothing. Past it,
	// verification waits for a fetch and, if that fails, fails with
	// token.ErrKeysUnavailable (503 from Middleware).
	MaxStale time.Duration
	// MinInterval is the least time between two fetch attempts, whatever
	// caused them (a kid not in the set, stale keys) and however they ended
	// (default 10s). Tokens with made-up kids therefore cannot make the
	// service hammer the JWKS URL. After consecutive failures the wait
	// doubles each time, up to MaxBackoff. A value under a second (a number
	// written without its unit: 10 is 10 ns) is raised to one second.
	MinInterval time.Duration
	// MaxBackoff caps the wait between attempts after failures (default 5m).
	MaxBackoff time.Duration
	// MaxBytes bounds the JWKS document (default 1 MiB); a longer one is a
	// failed fetch.
	MaxBytes int64
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// RemoteKeys returns a KeySource that fetches Latchkey's JWKS from url
// (e.g. https://auth.example.com/.well-known/jwks.json) and caches it.
//
// A kid in a fresh set is answered from memory without waiting for
// anything. A fetch happens when the set is older than MaxAge (in the
// background, the stale keys still answering for up to MaxStale) or when a
// token names a kid the set lacks (its caller waits for the fetch). At most
// one fetch runs at a time and every caller that needs it waits for that one;
// attempts are at least MinInterval apart, failed ones further (backoff), and
// a fetch that fails changes nothing in the cache.
//
// A kid that is not in the set is an error wrapping token.ErrUnknownKey
// (401); keys that cannot be had (the URL unreachable, an error status, a
// document that is not a usable JWKS, the caller's context ending while it
// waits) are token.ErrKeysUnavailable (503).
func RemoteKeys(url string, o RemoteOptions) KeySource {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	c := *o.Client // the application's client is not changed
	c.CheckRedirect = noDowngrade(c.CheckRedirect)
	o.Client = &c
	if o.MaxAge <= 0 {
		o.MaxAge = 5 * time.Minute
	}
	if o.MaxStale <= 0 {
		o.MaxStale = time.Hour
	}
	if o.MinInterval <= 0 {
		o.MinInterval = 10 * time.Second
	}
	o.MinInterval = max(o.MinInterval, time.Second) // the issuer's protection is not nanoseconds
	if o.MaxBackoff < o.MinInterval {
		o.MaxBackoff = max(5*time.Minute, o.MinInterval)
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &remote{url: url, o: o}
	r.flight.now, r.flight.minGap, r.flight.maxGap = o.Now, o.MinInterval, o.MaxBackoff
	r.flight.run = r.refresh
	return r.key
}

type remote struct {
	url    string
	o      RemoteOptions
	flight flight // one fetch at a time, attempts spaced

	mu      sync.Mutex
	keys    map[string]token.PublicKey // the last set fetched; nil before the first success
	fetched time.Time                  // when the fetch of keys started
}

func (r *remote) key(ctx context.Context, kid string) (token.PublicKey, error) {
	now := r.o.Now()
	r.mu.Lock()
	k, known := r.keys[kid]
	age := now.Sub(r.fetched)
	r.mu.Unlock()
	switch {
	case known && age < r.o.MaxAge:
		return k, nil
	case known && age < r.o.MaxAge+r.o.MaxStale:
		r.flight.start() // refresh in the background, if due
		return k, nil
	}
	// A kid the set lacks, or keys too old to trust: only a fetch can answer.
	done, lastErr := r.flight.start(), error(nil)
	if done == nil {
		lastErr = r.flight.lastErr()
	} else {
		select {
		case <-done:
			lastErr = r.flight.lastErr()
		case <-ctx.Done():
			return token.PublicKey{}, fmt.Errorf("%w: waiting for the JWKS: %w", token.ErrKeysUnavailable, ctx.Err())
		}
	}
	r.mu.Lock()
	k, known = r.keys[kid]
	age = r.o.Now().Sub(r.fetched)
	r.mu.Unlock()
	switch {
	case known && age < r.o.MaxAge+r.o.MaxStale:
		return k, nil
	case lastErr != nil:
		return token.PublicKey{}, fmt.Errorf("%w: %w", token.ErrKeysUnavailable, lastErr)
	case known || r.keysMissing():
		return token.PublicKey{}, fmt.Errorf("%w: no fetch of the JWKS succeeded for %s", token.ErrKeysUnavailable, r.o.MaxAge+r.o.MaxStale)
	}
	return token.PublicKey{}, fmt.Errorf("%w %q", token.ErrUnknownKey, kid)
}

func (r *remote) keysMissing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keys == nil
}

// refresh is one fetch, run by flight on a context of its own; on success it
// replaces the cached set.
func (r *remote) refresh(started time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.o.Timeout)
	defer cancel()
	keys, err := r.fetch(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.keys, r.fetched = keys, started
	r.mu.Unlock()
	return nil
}

func (r *remote) fetch(ctx context.Context) (map[string]token.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.o.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.o.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	if int64(len(body)) > r.o.MaxBytes {
		return nil, fmt.Errorf("fetch JWKS: the document is larger than %d bytes", r.o.MaxBytes)
	}
	// Each key is decoded on its own: one this build cannot read (a key
	// type it does not know, a malformed entry) is ignored, not a reason to
	// refuse the others (RFC 7517 §5).
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	keys := make(map[string]token.PublicKey, len(set.Keys))
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		if k.KeyID == "" || !k.IsPublic() || (k.Use != "" && k.Use != "sig") || !token.ValidAlgorithm(k.Algorithm) || k.Algorithm == token.HS256 {
			continue
		}
		keys[k.KeyID] = token.PublicKey{Key: k.Key, Algorithm: k.Algorithm}
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS has no usable keys")
	}
	return keys, nil
}

// noDowngrade wraps a redirect policy (nil: http.Client's, at most 10
// redirects) so that no redirect leaves https for plain http.
func noDowngrade(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > 0 && via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("JWKS redirected from https to %s: refused", req.URL.Scheme)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("JWKS: stopped after 10 redirects")
		}
		return nil
	}
}
