package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey-dev/latchkey/store"
)

// keyRotationLock is the transaction-scoped advisory lock that serialises
// RotateSigningKey across instances.
const keyRotationLock = 0x4c4b4b31 // "LKK1"

// SigningKeys returns every signing key, newest first.
func (db *DB) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `
		SELECT kid, algorithm, private, created_at, retired_at
		FROM signing_keys ORDER BY created_at DESC, kid DESC`)
	if err != nil {
		return nil, wrap("signing keys", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.SigningKey, error) {
		var (
			k       store.SigningKey
			created int64
			retired *int64
		)
		if err := r.Scan(&k.KID, &k.Algorithm, &k.Private, &created, &retired); err != nil {
			return store.SigningKey{}, err
		}
		k.CreatedAt = fromNanos(created)
		k.RetiredAt = fromNullNanos(retired)
		return k, nil
	})
	return keys, wrap("signing keys", err)
}

// RotateSigningKey retires (at k.CreatedAt) every unretired key and inserts k
// as the active key, in one transaction; store.ErrConflict if k.KID exists,
// and then nothing changes.
//
// The transaction takes an advisory lock first. Without it, two instances
// rotating at once under READ COMMITTED would each retire the old key, neither
// would see the other's uncommitted new key, and both new keys would stay
// active.
func (db *DB) RotateSigningKey(ctx context.Context, k store.SigningKey) error {
	_, err := db.storeSigningKey(ctx, k, false)
	return wrap("rotate signing key", err)
}

// EnsureSigningKey is RotateSigningKey unless an unretired key of
// k.Algorithm exists. The check runs under the same advisory lock, after it
// is granted: a statement of a READ COMMITTED transaction sees what every
// earlier holder of the lock committed, so instances starting together on a
// new database store one first key between them.
func (db *DB) EnsureSigningKey(ctx context.Context, k store.SigningKey) (bool, error) {
	stored, err := db.storeSigningKey(ctx, k, true)
	return stored, wrap("ensure signing key", err)
}

func (db *DB) storeSigningKey(ctx context.Context, k store.SigningKey, onlyIfNone bool) (bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	stored := false
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		stored = false // BeginFunc does not retry, but keep the result honest
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, keyRotationLock); err != nil {
			return err
		}
		if onlyIfNone {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM signing_keys
				WHERE retired_at IS NULL AND algorithm = $1)`, k.Algorithm).Scan(&exists); err != nil || exists {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL`,
			nanos(k.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO signing_keys (kid, algorithm, private, created_at, retired_at)
			VALUES ($1, $2, $3, $4, $5)`,
			k.KID, k.Algorithm, nonNil(k.Private), nanos(k.CreatedAt), nullNanos(k.RetiredAt))
		stored = err == nil
		return err
	})
	return stored && err == nil, err
}

// Secret returns the secret called name, first storing generate()'s value if
// there is none. Concurrent callers, on any instance, all get the value that
// was stored first: INSERT ... ON CONFLICT DO NOTHING waits for a concurrent
// uncommitted insert of the same name and then does nothing, and the SELECT
// that follows (a new statement, so a new snapshot) sees the winner's value.
// generate is called only when the secret is missing (possibly by several
// callers at once; all but one value are discarded).
func (db *DB) Secret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	const selectSQL = `SELECT value FROM secrets WHERE name = $1`
	var value []byte
	err := db.pool.QueryRow(ctx, selectSQL, name).Scan(&value)
	if err == nil {
		return value, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, wrap("secret", err)
	}
	fresh, err := generate()
	if err != nil {
		return nil, fmt.Errorf("postgres: secret %q: generate: %w", name, err)
	}
	if _, err := db.pool.Exec(ctx, `
		INSERT INTO secrets (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO NOTHING`, name, nonNil(fresh)); err != nil {
		return nil, wrap("secret", err)
	}
	if err := db.pool.QueryRow(ctx, selectSQL, name).Scan(&value); err != nil {
		return nil, wrap("secret", err)
	}
	return value, nil
}

// nonNil turns a nil slice into an empty one: pgx sends nil as NULL, and the
// bytea columns are NOT NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
