package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres"
)

// TestUnreachableServer needs no PostgreSQL: port 1 on the loopback refuses
// connections at once. Every method must say store.ErrUnavailable (HTTP 503)
// and none may panic; Rotate in particular must not say ErrStale, which
// would make the service revoke a session because the database was down.
func TestUnreachableServer(t *testing.T) {
	db := openDB(t, "postgres://latchkey@127.0.0.1:1/latchkey?sslmode=disable", postgres.Options{ConnectTimeout: 2 * time.Second})
	ctx := context.Background()

	calls := map[string]func() error{
		"Ping":     func() error { return db.Ping(ctx) },
		"Migrate":  func() error { return db.Migrate(ctx) },
		"UserByID": func() error { _, err := db.UserByID(ctx, "u1"); return err },
		"Rotate": func() error {
			_, err := db.Rotate(ctx, store.RotateParams{SessionID: "s1", Now: t0, RefreshTTL: time.Hour, Advance: true})
			return err
		},
		"CreateSession": func() error { _, err := db.CreateSession(ctx, newSession("s1", "u1", t0), 5); return err },
		"Secret": func() error {
			_, err := db.Secret(ctx, "x", func() ([]byte, error) { return []byte("v"), nil })
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s against an unreachable server: %v; want store.ErrUnavailable", name, err)
		}
	}
}

// TestDialDeadline: a caller's deadline that passes while dialing is an
// outage too, and the deadline stays visible in the chain.
func TestDialDeadline(t *testing.T) {
	db := openDB(t, "postgres://latchkey@127.0.0.1:1/latchkey?sslmode=disable", postgres.Options{})
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	err := db.Ping(ctx)
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping past its deadline: %v; want store.ErrUnavailable wrapping context.DeadlineExceeded", err)
	}
}
