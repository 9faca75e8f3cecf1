package receiver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// keyCache holds the transmitter's public keys by kid, fetched from its
// JWKS. An unknown kid (a rotated key) fetches again, at most once per
// minInterval, so SETs with made-up kids cannot make the receiver hammer the
// JWKS URL; keys already known stay in use while the JWKS cannot be fetched.
type keyCache struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	keys    map[string]jose.JSONWebKey
	tried   time.Time // last fetch attempt
	fetched time.Time // last successful fetch
}

const (
	minKeyFetchInterval = 5 * time.Second
	maxKeyAge           = time.Hour
)

// key returns the key for kid.
func (k *keyCache) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	key, ok := k.keys[kid]
	if ok && now.Sub(k.fetched) < maxKeyAge {
		return key, nil
	}
	if now.Sub(k.tried) >= minKeyFetchInterval || k.keys == nil {
		k.tried = now
		keys, err := k.fetch(ctx)
		if err == nil {
			k.keys, k.fetched = keys, now
			key, ok = keys[kid]
		} else if !ok {
			return jose.JSONWebKey{}, err
		}
	}
	if !ok {
		return jose.JSONWebKey{}, fmt.Errorf("no key %q in the transmitter's JWKS", kid)
	}
	return key, nil
}

func (k *keyCache) fetch(ctx context.Context) (map[string]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch the JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch the JWKS: status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("decode the JWKS: %w", err)
	}
	keys := map[string]jose.JSONWebKey{}
	for _, key := range set.Keys {
		if key.KeyID == "" || !key.IsPublic() || (key.Use != "" && key.Use != "sig") || !asymmetric(key.Algorithm) {
			continue
		}
		keys[key.KeyID] = key
	}
	return keys, nil
}

// asymmetric reports whether alg is one of the signature algorithms SETs
// may be verified with from a JWKS (never a shared secret).
func asymmetric(alg string) bool {
	switch jose.SignatureAlgorithm(alg) {
	case jose.ES256, jose.EdDSA, jose.RS256:
		return true
	}
	return false
}
