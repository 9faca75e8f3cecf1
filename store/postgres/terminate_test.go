package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// TestServerTerminatesConnection: when the server ends our connection
// (pg_terminate_backend, as a restart or failover does), the call in flight
// fails with store.ErrUnavailable and the pool recovers by itself on the next
// call. Internal test: it needs the pool to learn its connection's pid.
func TestServerTerminatesConnection(t *testing.T) {
	u := pgtest.FreshDatabase(t)
	ctx := context.Background()
	db, err := Open(ctx, u, Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var pid uint32
	if err := db.pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}

	admin, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	// pg_terminate_backend waits (up to the timeout, in ms) until the backend is gone.
	var ok bool
	if err := admin.QueryRow(ctx, `SELECT pg_terminate_backend($1, 10000)`, pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate backend %d: %v, %v", pid, ok, err)
	}

	_, err = db.UserByID(ctx, "u1")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("UserByID on a terminated connection: %v; want store.ErrUnavailable", err)
	}
	t.Logf("error on the terminated connection: %v", err)
	if _, err := db.UserByID(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UserByID after the pool dropped the dead connection: %v; want store.ErrNotFound", err)
	}
}
