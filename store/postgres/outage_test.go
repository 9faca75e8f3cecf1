package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// outageQueryTimeout is the QueryTimeout of the outage tests: short, so the
// blackhole cases end quickly, and long enough for a loaded CI machine.
const outageQueryTimeout = 500 * time.Millisecond

// outageDB returns a store whose connections go through a proxy the test
// controls, with one user and one session (at generation 0) in it.
func outageDB(t *testing.T, maxConns int32) (*postgres.DB, *pgtest.Proxy) {
	t.Helper()
	proxy, u := pgtest.ProxyURL(t, migratedDB(t))
	db := openDB(t, u, postgres.Options{MaxConns: maxConns, QueryTimeout: outageQueryTimeout})
	mustCreateUser(t, db, activeUser("u1"))
	mustCreateSession(t, db, newSession("s1", "u1", t0), 0)
	return db, proxy
}

func rotate(db *postgres.DB, gen int64) error {
	_, err := db.Rotate(context.Background(), store.RotateParams{SessionID: "s1", Generation: gen,
		Now: t0.Add(time.Minute), RefreshTTL: time.Hour, Advance: true})
	return err
}

// waitUntilReachable polls Ping for a bounded time (the pool redials on its
// own; polling only waits for it).
func waitUntilReachable(t *testing.T, db *postgres.DB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := db.Ping(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover after the proxy was restored: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not passing time
	}
}

// TestOutageCut: the server goes away (connections closed, new ones
// refused). Every call says store.ErrUnavailable, Rotate consumes nothing,
// and once the server is back the same pool serves again with no help.
func TestOutageCut(t *testing.T) {
	db, proxy := outageDB(t, 4)
	proxy.Cut()
	start := time.Now()
	for name, call := range map[string]func() error{
		"Rotate":   func() error { return rotate(db, 0) },
		"Ping":     func() error { return db.Ping(context.Background()) },
		"Session":  func() error { _, err := db.Session(context.Background(), "s1"); return err },
		"UserByID": func() error { _, err := db.UserByID(context.Background(), "u1"); return err },
		"RevokeSessions": func() error {
			_, err := db.RevokeSessions(context.Background(), store.RevokeParams{SessionID: "s1", Reason: "x", Now: t0})
			return err
		},
	} {
		if err := call(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s while cut: %v; want store.ErrUnavailable", name, err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("calls against a cut server took %v; a refused connection should fail at once", d)
	}

	proxy.Restore()
	waitUntilReachable(t, db)
	s, err := db.Session(context.Background(), "s1")
	if err != nil || s.Generation != 0 || s.Revoked() {
		t.Fatalf("after the outage: %+v, %v; want generation 0, not revoked (nothing consumed)", s, err)
	}
	if err := rotate(db, 0); err != nil {
		t.Fatalf("Rotate after the outage: %v", err)
	}
}

// TestOutageBlackhole: the server stops answering but nothing is closed (a
// partition, a hung server). Without a bound a call would wait for TCP to
// give up, minutes later; with QueryTimeout it says store.ErrUnavailable
// (wrapping context.DeadlineExceeded) in about that time, including calls
// queued for a pool whose every connection is stuck.
func TestOutageBlackhole(t *testing.T) {
	const maxConns = 2
	db, proxy := outageDB(t, maxConns)
	proxy.Blackhole()

	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 3*maxConns) // more callers than connections
	for i := range errs {
		wg.Go(func() { errs[i] = rotate(db, 0) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i, err := range errs {
		if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("caller %d: %v; want store.ErrUnavailable wrapping context.DeadlineExceeded", i, err)
		}
	}
	if elapsed > outageQueryTimeout+2*time.Second {
		t.Errorf("blackholed calls took %v; want about QueryTimeout (%v)", elapsed, outageQueryTimeout)
	}
	t.Logf("%d blackholed calls on %d connections answered in %v (QueryTimeout %v)", len(errs), maxConns, elapsed, outageQueryTimeout)

	proxy.Restore()
	waitUntilReachable(t, db)
	if err := rotate(db, 0); err != nil {
		t.Fatalf("Rotate after the blackhole: %v (a timed-out Rotate must not have committed)", err)
	}
}

// TestCallerDeadlineWins: a caller's deadline shorter than QueryTimeout is
// kept (QueryTimeout only adds a bound where there is none or a later one).
func TestCallerDeadlineWins(t *testing.T) {
	db, proxy := outageDB(t, 2)
	proxy.Blackhole()
	defer proxy.Restore()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := db.Ping(ctx)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping: %v; want store.ErrUnavailable", err)
	}
	if d := time.Since(start); d >= outageQueryTimeout {
		t.Fatalf("Ping with a 50ms deadline took %v", d)
	}
}
