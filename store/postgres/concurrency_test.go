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

// Revoking a user's sessions (sign-out elsewhere, the session limit) locks
// them in id order, the order a
// batched Rotate locks its rows in, so the two queue instead of
// deadlocking. The other transaction here plays a batch that has locked s05
// and goes on to s09; the sessions were created in reverse, so a scan by user
// meets s09 before s05, and a revocation locking in that order would hold
// s09 while waiting for s05: a deadlock PostgreSQL breaks by aborting one.
func TestRevokeLocksInIDOrder(t *testing.T) {
	t.Run("RevokeSessions", func(t *testing.T) {
		revokeAgainstBatch(t, `%revoked_at = $4%`, func(ctx context.Context, db *postgres.DB) error {
			_, err := db.RevokeSessions(ctx, store.RevokeParams{UserID: "u1", ExceptSessionID: "s00",
				Now: t0.Add(time.Second), Reason: "sign_out_others"})
			return err
		})
	})
	// The session limit's eviction: a new session with a limit of one
	// revokes every other.
	t.Run("CreateSession evicting", func(t *testing.T) {
		revokeAgainstBatch(t, `%session_limit%`, func(ctx context.Context, db *postgres.DB) error {
			_, err := db.CreateSession(ctx, newSession("s99", "u1", t0.Add(time.Second)), 1)
			return err
		})
	})
}

// revokeAgainstBatch runs revoke (whose statement text matches like) while
// another transaction holds s05 and then takes s09, as a batch would.
func revokeAgainstBatch(t *testing.T, like string, revoke func(context.Context, *postgres.DB) error) {
	u := migratedDB(t)
	db := openDB(t, u, postgres.Options{})
	ctx := context.Background()
	mustCreateUser(t, db, activeUser("u1"))
	for i := 11; i >= 0; i-- {
		mustCreateSession(t, db, newSession(fmt.Sprintf("s%02d", i), "u1", t0), 0)
	}
	batch, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer batch.Close(ctx)
	tx, err := batch.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM sessions WHERE id = 's05' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	revoked := make(chan error, 1)
	go func() { revoked <- revoke(ctx, db) }()
	admin, err := pgx.Connect(ctx, u) // outside tx: its pg_stat_activity is a snapshot
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for deadline := time.Now().Add(10 * time.Second); ; {
		var waiting int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`, like).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the revocation never waited for the lock on s05")
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	// The "batch" goes on to s09, then commits.
	if _, err := tx.Exec(ctx, `UPDATE sessions SET generation = generation + 1 WHERE id = 's09'`); err != nil {
		t.Fatalf("the batch's next row: %v (the revocation held it)", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-revoked; err != nil {
		t.Fatalf("revocation: %v", err)
	}
}
