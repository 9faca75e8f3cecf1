package token

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// KeyStore is the part of store.Store that keeps signing keys.
type KeyStore interface {
	SigningKeys(ctx context.Context) ([]store.SigningKey, error)
	RotateSigningKey(ctx context.Context, k store.SigningKey) error
	EnsureSigningKey(ctx context.Context, k store.SigningKey) (bool, error)
}

// LoadKeys reads the signing keys from ks and installs them. For an
// asymmetric alg it makes and stores a first key when none of that algorithm
// is active (a new database, or JWT_ALGORITHM changed); for HS256 it installs
// hsSecret (JWT_SECRET) as the only signing key. Every instance of a
// deployment calls it at start and then every KEY_RELOAD_INTERVAL, so a
// rotation made anywhere is seen everywhere within that interval.
func (i *Issuer) LoadKeys(ctx context.Context, ks KeyStore, alg string, hsSecret []byte) error {
	if alg == HS256 {
		if len(hsSecret) < 32 {
			return errors.New("token: HS256 needs a JWT_SECRET of at least 32 bytes")
		}
		return i.SetKeys([]store.SigningKey{SecretKey(hsSecret)})
	}
	keys, err := ks.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("token: load signing keys: %w", err)
	}
	if !hasActive(keys, alg) {
		// A new database, or JWT_ALGORITHM changed. Other instances may be
		// starting at this moment and doing the same: the store keeps the
		// first key stored and every instance installs that one, so none of
		// them signs with a key the others do not know yet.
		k, err := GenerateKey(alg, i.now())
		if err != nil {
			return err
		}
		if _, err := ks.EnsureSigningKey(ctx, k); err != nil {
			return fmt.Errorf("token: store first signing key: %w", err)
		}
		if keys, err = ks.SigningKeys(ctx); err != nil {
			return fmt.Errorf("token: load signing keys: %w", err)
		}
	}
	return i.SetKeys(keys)
}

// RotateKey makes a new key for alg, stores it as the active key (retiring the
// previous one, which stays published until its tokens expire) and installs
// the result. It returns the new key id.
func (i *Issuer) RotateKey(ctx context.Context, ks KeyStore, alg string) (string, error) {
	k, err := GenerateKey(alg, i.now())
	if err != nil {
		return "", err
	}
	if err := ks.RotateSigningKey(ctx, k); err != nil {
		return "", fmt.Errorf("token: store new signing key: %w", err)
	}
	keys, err := ks.SigningKeys(ctx)
	if err != nil {
		return "", fmt.Errorf("token: load signing keys: %w", err)
	}
	return k.KID, i.SetKeys(keys)
}

func hasActive(keys []store.SigningKey, alg string) bool {
	for _, k := range keys {
		if k.RetiredAt.IsZero() && k.Algorithm == alg {
			return true
		}
	}
	return false
}

// Published reports whether a key is still published at now: active, or
// retired less than publishFor ago.
func Published(k store.SigningKey, now time.Time, publishFor time.Duration) bool {
	return k.RetiredAt.IsZero() || now.Before(k.RetiredAt.Add(publishFor))
}
