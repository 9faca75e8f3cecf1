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

// RemoteOptions configure RemoteKeys.
type RemoteOptions struct {
	Client *http.Client // a client with a 5s timeout when nil
	// MaxAge is how long fetched keys are used before fetching again
	// (default 5m); rotations are picked up at the latest then.
	MaxAge time.Duration
	// MinInterval bounds fetches caused by unknown kids (default 10s), so
	// tokens with made-up kids cannot make the service hammer the JWKS URL.
	MinInterval time.Duration
	Now         func() time.Time
}

// RemoteKeys returns a KeySource that fetches Latchkey's JWKS from url
// (e.g. https://auth.example.com/.well-known/jwks.json), caches it, and
// fetches again when it is older than MaxAge or a token names a kid it does
// not know (at most once per MinInterval). Concurrent callers share one
// fetch.
func RemoteKeys(url string, o RemoteOptions) KeySource {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if o.MaxAge == 0 {
		o.MaxAge = 5 * time.Minute
	}
	if o.MinInterval == 0 {
		o.MinInterval = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &remote{url: url, o: o}
	return r.key
}

type remote struct {
	url     string
	o       RemoteOptions
	mu      sync.Mutex
	keys    map[string]token.PublicKey
	fetched time.Time
}

func (r *remote) key(ctx context.Context, kid string) (token.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.o.Now()
	k, ok := r.keys[kid]
	stale := r.keys == nil || now.Sub(r.fetched) >= r.o.MaxAge
	if ok && !stale {
		return k, nil
	}
	if stale || now.Sub(r.fetched) >= r.o.MinInterval {
		keys, err := r.fetch(ctx)
		if err != nil {
			if ok { // keep serving a known key while the JWKS is unreachable
				return k, nil
			}
			return token.PublicKey{}, err
		}
		r.keys, r.fetched = keys, now
		if k, ok = keys[kid]; ok {
			return k, nil
		}
	}
	return token.PublicKey{}, fmt.Errorf("unknown key id %q", kid)
}

func (r *remote) fetch(ctx context.Context) (map[string]token.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.o.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	keys := make(map[string]token.PublicKey, len(set.Keys))
	for _, k := range set.Keys {
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
