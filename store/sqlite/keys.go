package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/latchkey-dev/latchkey/store"
)

// SigningKeys returns every signing key, newest first.
func (db *DB) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT kid, algorithm, private, created_at, retired_at
		FROM signing_keys ORDER BY created_at DESC, rowid DESC`)
	if err != nil {
		return nil, db.wrap("signing keys", err)
	}
	defer rows.Close()
	var keys []store.SigningKey
	for rows.Next() {
		var (
			k       store.SigningKey
			created int64
			retired sql.NullInt64
		)
		if err := rows.Scan(&k.KID, &k.Algorithm, &k.Private, &created, &retired); err != nil {
			return nil, db.wrap("signing keys", err)
		}
		k.CreatedAt, k.RetiredAt = fromNanos(created), fromNull(retired)
		keys = append(keys, k)
	}
	return keys, db.wrap("signing keys", rows.Err())
}

// RotateSigningKey retires every active key at k.CreatedAt and inserts k, in
// one transaction: a taken kid (store.ErrConflict) retires nothing.
func (db *DB) RotateSigningKey(ctx context.Context, k store.SigningKey) error {
	_, err := db.storeSigningKey(ctx, k, false)
	return db.wrap("rotate signing key", err)
}

// EnsureSigningKey is RotateSigningKey unless an unretired key of
// k.Algorithm exists. The check and the insert share one IMMEDIATE
// transaction, which holds the write lock from its start, so two processes
// on the file cannot both find no key.
func (db *DB) EnsureSigningKey(ctx context.Context, k store.SigningKey) (bool, error) {
	stored, err := db.storeSigningKey(ctx, k, true)
	return stored, db.wrap("ensure signing key", err)
}

func (db *DB) storeSigningKey(ctx context.Context, k store.SigningKey, onlyIfNone bool) (bool, error) {
	var e enc
	created, retired := e.time(k.CreatedAt), e.time(k.RetiredAt)
	if e.err != nil {
		return false, e.err
	}
	if k.Private == nil {
		k.Private = []byte{} // NOT NULL: an empty key is still a value.
	}
	stored := false
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if onlyIfNone {
			var exists bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM signing_keys
				WHERE retired_at IS NULL AND algorithm = ?)`, k.Algorithm).Scan(&exists); err != nil || exists {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL`, created); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (kid, algorithm, private, created_at, retired_at)
			VALUES (?, ?, ?, ?, ?)`, k.KID, k.Algorithm, k.Private, created, retired)
		stored = err == nil
		return err
	})
	return stored && err == nil, err
}

// Secret returns the secret called name, storing generate()'s value first if
// there is none. Concurrent callers, in this process or another, all return
// the value that was stored first: the insert does nothing on conflict and
// the value is then read back.
func (db *DB) Secret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	var v []byte
	err := db.r.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, db.wrap("secret", err)
	}
	fresh, err := generate()
	if err != nil {
		return nil, fmt.Errorf("sqlite: secret %q: generate: %w", name, err)
	}
	if fresh == nil {
		fresh = []byte{}
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, fresh); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&v)
	})
	if err != nil {
		return nil, db.wrap("secret", err)
	}
	return v, nil
}
