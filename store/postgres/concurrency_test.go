package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// These tests run the contract's concurrency promises across two pools on
// one database, i.e. two Latchkey instances, which a single-backend
// conformance suite cannot express.

// together runs n calls of f at once (as near as goroutines allow), f(i)
// using pools[i%len(pools)], and waits for all of them.
func together(n int, f func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			f(i)
		}()
	}
	start.Done()
	done.Wait()
}

func TestRotateDoubleSpendAcrossInstances(t *testing.T) {
	u := migratedDB(t)
	pools := []*postgres.DB{openDB(t, u, postgres.Options{MaxConns: 16}), openDB(t, u, postgres.Options{MaxConns: 16})}
	ctx := context.Background()
	mustCreateUser(t, pools[0], activeUser("u1"))

	for round := range 5 {
		sid := fmt.Sprintf("s%d", round)
		mustCreateSession(t, pools[0], newSession(sid, "u1", t0), 0)
		var (
			mu     sync.Mutex
			wins   int
			stale  int
			others []error
		)
		together(32, func(i int) {
			_, err := pools[i%2].Rotate(ctx, store.RotateParams{
				SessionID: sid, Generation: 0, Now: t0.Add(1), RefreshTTL: 3600e9, Advance: true,
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, store.ErrStale):
				stale++
			default:
				others = append(others, err)
			}
		})
		if wins != 1 || stale != 31 || len(others) != 0 {
			t.Fatalf("round %d: %d wins, %d stale, other errors %v; want exactly 1 winner and 31 stale", round, wins, stale, others)
		}
		s, err := pools[1].Session(ctx, sid)
		if err != nil {
			t.Fatal(err)
		}
		if s.Generation != 1 {
			t.Fatalf("round %d: generation %d after one winning rotation, want 1", round, s.Generation)
		}
	}
}

func TestMigrateConcurrently(t *testing.T) {
	// Several rounds, each on a fresh database: without the lock, instances
	// collide on CREATE TABLE most of the time but not always.
	for round := range 3 {
		t.Run(fmt.Sprintf("round%d", round), testMigrateConcurrently)
	}
}

func testMigrateConcurrently(t *testing.T) {
	u := pgtest.FreshDatabase(t)
	const instances = 8
	pools := make([]*postgres.DB, instances)
	for i := range pools {
		pools[i] = openDB(t, u, postgres.Options{})
	}
	errs := make([]error, instances)
	together(instances, func(i int) { errs[i] = pools[i].Migrate(context.Background()) })
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: Migrate: %v", i, err)
		}
	}

	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var applied, distinct int
	if err := conn.QueryRow(context.Background(),
		`SELECT count(*), count(DISTINCT version_id) FROM latchkey_schema_migrations WHERE version_id > 0`,
	).Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	if applied != distinct || applied == 0 {
		t.Errorf("migrations table has %d rows for %d versions; each version must be applied exactly once", applied, distinct)
	}

	// Migrating an up-to-date database is a no-op, and the schema works.
	if err := pools[0].Migrate(context.Background()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	mustCreateUser(t, pools[1], activeUser("u1"))
}

func TestSecretAcrossInstances(t *testing.T) {
	u := migratedDB(t)
	pools := []*postgres.DB{openDB(t, u, postgres.Options{}), openDB(t, u, postgres.Options{})}
	const callers = 16
	got := make([][]byte, callers)
	errs := make([]error, callers)
	together(callers, func(i int) {
		got[i], errs[i] = pools[i%2].Secret(context.Background(), "refresh", func() ([]byte, error) {
			b := make([]byte, 32)
			_, err := rand.Read(b)
			return b, err
		})
	})
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("caller %d got %x, caller 0 got %x: concurrent callers must share one secret", i, got[i], got[0])
		}
	}
	// Once stored, generate is not called again.
	again, err := pools[1].Secret(context.Background(), "refresh", func() ([]byte, error) {
		return nil, errors.New("generate called for an existing secret")
	})
	if err != nil || !bytes.Equal(again, got[0]) {
		t.Fatalf("Secret again = %x, %v; want %x", again, err, got[0])
	}
}

func TestSessionLimitUnderConcurrentSignIns(t *testing.T) {
	u := migratedDB(t)
	pools := []*postgres.DB{openDB(t, u, postgres.Options{}), openDB(t, u, postgres.Options{})}
	ctx := context.Background()
	mustCreateUser(t, pools[0], activeUser("u1"))

	const signIns, limit = 24, 3
	evicted := make([][]string, signIns)
	errs := make([]error, signIns)
	together(signIns, func(i int) {
		// Distinct times, so "least recently refreshed" is well defined.
		evicted[i], errs[i] = pools[i%2].CreateSession(ctx, newSession(fmt.Sprintf("s%02d", i), "u1", t0.Add(time.Duration(i)*time.Second)), limit)
	})
	total := 0
	seen := map[string]bool{}
	for i := range signIns {
		if errs[i] != nil {
			t.Fatalf("sign-in %d: %v", i, errs[i])
		}
		for _, id := range evicted[i] {
			if seen[id] {
				t.Errorf("session %s evicted twice", id)
			}
			seen[id] = true
		}
		total += len(evicted[i])
	}
	live, err := pools[0].ListSessions(ctx, "u1", t0.Add(time.Duration(signIns)*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != limit || total != signIns-limit {
		t.Fatalf("%d live sessions and %d evicted after %d concurrent sign-ins with limit %d; want %d and %d",
			len(live), total, signIns, limit, limit, signIns-limit)
	}
	for _, s := range live {
		if seen[s.ID] {
			t.Errorf("session %s is listed live but was reported evicted", s.ID)
		}
	}
	for id := range seen {
		s, err := pools[1].Session(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Revoked() || s.RevokeReason != "session_limit" {
			t.Errorf("evicted session %s: revoked at %v, reason %q; want reason session_limit", id, s.RevokedAt, s.RevokeReason)
		}
	}
}

func TestRotateSigningKeyAcrossInstances(t *testing.T) {
	u := migratedDB(t)
	pools := []*postgres.DB{openDB(t, u, postgres.Options{}), openDB(t, u, postgres.Options{})}
	ctx := context.Background()
	const rotations = 8
	errs := make([]error, rotations)
	together(rotations, func(i int) {
		errs[i] = pools[i%2].RotateSigningKey(ctx, store.SigningKey{
			KID: fmt.Sprintf("k%d", i), Algorithm: "ES256", Private: []byte{byte(i)}, CreatedAt: t0.Add(time.Duration(i) * time.Second),
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
	}
	keys, err := pools[0].SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	active := 0
	for _, k := range keys {
		if k.RetiredAt.IsZero() {
			active++
		}
	}
	if len(keys) != rotations || active != 1 {
		t.Fatalf("%d keys, %d active after %d concurrent rotations; want %d keys and exactly 1 active", len(keys), active, rotations, rotations)
	}
}

// Instances starting together on a new database store one first signing key
// between them (token.LoadKeys relies on it).
func TestEnsureSigningKeyAcrossInstances(t *testing.T) {
	u := migratedDB(t)
	pools := []*postgres.DB{openDB(t, u, postgres.Options{}), openDB(t, u, postgres.Options{})}
	ctx := context.Background()
	const callers = 8
	stored := make([]bool, callers)
	errs := make([]error, callers)
	together(callers, func(i int) {
		stored[i], errs[i] = pools[i%2].EnsureSigningKey(ctx, store.SigningKey{
			KID: fmt.Sprintf("k%d", i), Algorithm: "ES256", Private: []byte{byte(i)}, CreatedAt: t0,
		})
	})
	n := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
		if stored[i] {
			n++
		}
	}
	keys, err := pools[1].SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || len(keys) != 1 || !keys[0].RetiredAt.IsZero() {
		t.Fatalf("%d of %d concurrent callers stored a key; %d keys in the store; want exactly 1", n, callers, len(keys))
	}
}
