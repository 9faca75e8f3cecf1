package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"

	"github.com/latchkey-dev/latchkey/store"
)

// SigningKeys returns every signing key, newest first.
func (db *DB) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT kid, algorithm, private, created_at, retired_at
		FROM signing_keys ORDER BY created_at DESC, rowid DESC`)
	if err != nil {
		return nil, db.wrap(ctx, "signing keys", err)
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
			return nil, db.wrap(ctx, "signing keys", err)
		}
		k.CreatedAt, k.RetiredAt = fromNanos(created), fromNull(retired)
		keys = append(keys, k)
	}
	return keys, db.wrap(ctx, "signing keys", rows.Err())
}

// RotateSigningKey retires every active key at k.CreatedAt and inserts k, in
// one transaction: a taken kid (store.ErrConflict) retires nothing.
func (db *DB) RotateSigningKey(ctx context.Context, k store.SigningKey) error {
	_, err := db.storeSigningKey(ctx, k, false)
	return db.wrap(ctx, "rotate signing key", err)
}

// EnsureSigningKey is RotateSigningKey unless an unretired key of
// k.Algorithm exists. The check and the insert share one IMMEDIATE
// transaction, which holds the write lock from its start, so two processes
// on the file cannot both find no key.
func (db *DB) EnsureSigningKey(ctx context.Context, k store.SigningKey) (bool, error) {
	stored, err := db.storeSigningKey(ctx, k, true)
	return stored, db.wrap(ctx, "ensure signing key", err)
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
	// Through the group commit (batch.go), in a SAVEPOINT: the check and the
	// writes share the writer's transaction, which holds the write lock from
	// its BEGIN IMMEDIATE, and a taken kid undoes this write alone.
	err := db.submit(ctx, true, func(t *wtx) error {
		stored = false
		if onlyIfNone {
			exists := false
			if err := t.rows(`SELECT 1 FROM signing_keys WHERE retired_at IS NULL AND algorithm = ?`, []any{k.Algorithm},
				func(*sqlite3.Stmt) error { exists = true; return nil }); err != nil || exists {
				return err
			}
		}
		if _, err := t.exec(`UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL`, created); err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO signing_keys (kid, algorithm, private, created_at, retired_at)
			VALUES (?, ?, ?, ?, ?)`, k.KID, k.Algorithm, k.Private, created, retired); err != nil {
			if constraintOnly(err) {
				return expected(err)
			}
			return err
		}
		stored = true
		return nil
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
		return nil, db.wrap(ctx, "secret", err)
	}
	fresh, err := generate()
	if err != nil {
		return nil, fmt.Errorf("sqlite: secret %q: generate: %w", name, err)
	}
	if fresh == nil {
		fresh = []byte{}
	}
	err = db.submit(ctx, false, func(t *wtx) error {
		if _, err := t.exec(`INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, fresh); err != nil {
			return err
		}
		return t.rows(`SELECT value FROM secrets WHERE name = ?`, []any{name}, func(st *sqlite3.Stmt) error {
			v = st.ColumnBlob(0, nil)
			return nil
		})
	})
	if err != nil {
		return nil, db.wrap(ctx, "secret", err)
	}
	return v, nil
}
