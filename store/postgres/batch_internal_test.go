package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// These tests put chosen Rotate calls into one batch (hold, queue, release)
// and check each call's answer and what the database holds afterwards.

// bt0 is the clock of these tests.
var bt0 = time.Date(2026, 11, 21, 9, 30, 0, 123456789, time.UTC)

// batchDB opens a migrated store on a fresh schema (a fresh database if
// wholeDB, for tests that terminate its connections) with an active user
// "u1" and an inactive user "u0", and closes it when the test ends.
func batchDB(t *testing.T, wholeDB bool, opts Options) (*DB, string) {
	t.Helper()
	var u string
	if wholeDB {
		u = pgtest.FreshDatabase(t)
	} else {
		u = pgtest.FreshSchema(t)
	}
	return batchDBAt(t, u, opts), u
}

// batchDBAt is batchDB on the database of URL u. The set-up (schema, users,
// and the sessions of batchSession) goes through a store of its own with
// the default QueryTimeout: only the calls under test meet opts' (a short
// one failed a set-up write on a loaded machine).
func batchDBAt(t *testing.T, u string, opts Options) *DB {
	t.Helper()
	ctx := context.Background()
	setup, err := Open(ctx, u, Options{Schema: opts.Schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { setup.Close() })
	if err := setup.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range []store.User{
		{ID: "u1", Email: "u1@example.com", PasswordHash: "x", Status: store.UserActive, CreatedAt: bt0, UpdatedAt: bt0},
		{ID: "u0", Email: "u0@example.com", PasswordHash: "x", Status: store.UserInactive, CreatedAt: bt0, UpdatedAt: bt0},
	} {
		if err := setup.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	db, err := Open(ctx, u, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	setupOf.Store(db, setup)
	t.Cleanup(func() { setupOf.Delete(db) })
	return db
}

// setupOf maps a store of batchDBAt to its set-up store.
var setupOf sync.Map

// setupStore returns db's set-up store (db itself if it has none).
func setupStore(db *DB) *DB {
	if s, ok := setupOf.Load(db); ok {
		return s.(*DB)
	}
	return db
}

// batchSession creates a session of user u1 at generation 1, live from bt0
// for a day (refresh) and 30 days (absolute), changed by edit if not nil.
func batchSession(t *testing.T, db *DB, id string, edit func(*store.Session)) store.Session {
	t.Helper()
	s := store.Session{ID: id, UserID: "u1", Generation: 1, CreatedAt: bt0, LastRefreshedAt: bt0,
		RefreshExpiresAt: bt0.Add(24 * time.Hour), AbsoluteExpiresAt: bt0.Add(30 * 24 * time.Hour),
		ClientID: "web", UserAgent: "test", IP: "192.0.2.1"}
	if edit != nil {
		edit(&s)
	}
	if _, err := setupStore(db).CreateSession(context.Background(), s, 0); err != nil {
		t.Fatal(err)
	}
	return s
}

// hold stops batches from starting until release is called: every Rotate
// called meanwhile queues, and release starts them together (one batch per
// maxRotateBatch distinct sessions, subject to the in-flight policy).
func hold(t *testing.T, db *DB) (release func()) {
	t.Helper()
	r := &db.rot
	r.mu.Lock()
	r.held = true
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		r.held = false
		r.dispatchLocked()
		r.mu.Unlock()
	}
}

// waitQueued waits until n calls are queued.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		db.rot.mu.Lock()
		queued := len(db.rot.pending)
		db.rot.mu.Unlock()
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", queued, n)
		}
		time.Sleep(time.Millisecond) // polling interval
	}
}

// result is one Rotate call's answer.
type result struct {
	s   store.Session
	err error
}

// rotateAll calls Rotate once per element of ps, each in its own goroutine,
// queueing them in order while the batcher is held, and returns the answers once release has let them run,
// checking that they took `statements` statements.
func rotateAll(t *testing.T, db *DB, ps []store.RotateParams, statements int64) []result {
	t.Helper()
	return rotateAllThen(t, db, ps, statements, nil)
}

// rotateAllThen is rotateAll calling after (if not nil) right after the
// release.
func rotateAllThen(t *testing.T, db *DB, ps []store.RotateParams, statements int64, after func()) []result {
	t.Helper()
	release := hold(t, db)
	s0, r0 := db.BatchStats()
	out := make([]result, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() { out[i].s, out[i].err = db.Rotate(context.Background(), p) })
		waitQueued(t, db, i+1) // queued in the order of ps
	}
	release()
	if after != nil {
		after()
	}
	wg.Wait()
	s1, r1 := db.BatchStats()
	if s1-s0 != statements || r1-r0 != int64(len(ps)) {
		t.Errorf("%d calls ran in %d statements carrying %d; want %d statements carrying all of them",
			len(ps), s1-s0, r1-r0, statements)
	}
	return out
}

func get(t *testing.T, db *DB, id string) store.Session {
	t.Helper()
	s, err := db.Session(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBatchDistinctSessions: 300 rotations of distinct sessions queued at
// once run as batches of at most maxRotateBatch, and each is applied exactly
// once and answered with its own session (sliding expiry capped at the
// absolute one for the sessions near their end). Then the same sessions are
// rotated by concurrent callers without holding, round after round.
func TestBatchDistinctSessions(t *testing.T) {
	db, _ := batchDB(t, false, Options{})
	const n = 300
	now := bt0.Add(time.Hour)
	want := make([]store.Session, n)
	ps := make([]store.RotateParams, n)
	for i := range n {
		s := batchSession(t, db, fmt.Sprintf("s%03d", i), func(s *store.Session) {
			if i%3 == 0 { // ends in 90 minutes: the new expiry is capped there
				s.AbsoluteExpiresAt = bt0.Add(90 * time.Minute)
			}
		})
		ps[i] = store.RotateParams{SessionID: s.ID, Generation: 1, Now: now, RefreshTTL: 24 * time.Hour, Advance: true}
		s.Generation, s.LastRefreshedAt = 2, now
		s.RefreshExpiresAt = now.Add(24 * time.Hour)
		if s.RefreshExpiresAt.After(s.AbsoluteExpiresAt) {
			s.RefreshExpiresAt = s.AbsoluteExpiresAt
		}
		want[i] = s
	}
	out := rotateAll(t, db, ps, (n+maxRotateBatch-1)/maxRotateBatch)
	for i, r := range out {
		if r.err != nil || r.s != want[i] {
			t.Errorf("rotation %d: %+v, %v; want %+v", i, r.s, r.err, want[i])
		}
		if got := get(t, db, want[i].ID); got != want[i] {
			t.Errorf("session %s after one rotation: %+v; want %+v", want[i].ID, got, want[i])
		}
	}

	// Free-running: 64 callers, each rotating its own session 10 times.
	const callers, rounds = 64, 10
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for c := range callers {
		wg.Go(func() {
			for k := range int64(rounds) {
				at := now.Add(time.Duration(k+1) * time.Minute)
				s, err := db.Rotate(context.Background(), store.RotateParams{SessionID: want[c].ID,
					Generation: 2 + k, Now: at, RefreshTTL: time.Hour, Advance: true})
				if err == nil && (s.ID != want[c].ID || s.Generation != 3+k || !s.LastRefreshedAt.Equal(at)) {
					err = fmt.Errorf("round %d answered %+v", k, s)
				}
				if err != nil {
					errs[c] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for c, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", c, err)
		}
		if s := get(t, db, want[c].ID); s.Generation != 2+rounds {
			t.Errorf("session %s: generation %d after %d more rotations, want %d", s.ID, s.Generation, rounds, 2+rounds)
		}
	}
}

// TestBatchMixed: one batch mixing refreshes that succeed with every kind of
// stale one. Each op is answered on its own, and the stale ones change
// nothing; the same ops run one at a time answer the same.
func TestBatchMixed(t *testing.T) {
	db, _ := batchDB(t, false, Options{})
	ctx := context.Background()
	now := bt0.Add(2 * time.Hour)
	ttl := 24 * time.Hour
	type tc struct {
		name   string
		edit   func(*store.Session)
		p      func(*store.RotateParams)
		stale  bool
		replay bool
	}
	// DPoP: a proof's key is derived from the session id; "replayed"
	// presents one recorded before.
	bind := func(s *store.Session) { s.JKT = "jkt" }
	withProof := func(p *store.RotateParams) {
		p.JKT, p.Proof = "jkt", &store.ProofUse{Key: []byte("proof " + p.SessionID), Expires: now.Add(time.Minute)}
	}
	cases := []tc{
		{name: "fresh"},
		{name: "fresh2", edit: func(s *store.Session) { s.Generation = 41 }, p: func(p *store.RotateParams) { p.Generation = 41 }},
		{name: "touch", p: func(p *store.RotateParams) { p.Advance = false }},
		{name: "cap", edit: func(s *store.Session) { s.AbsoluteExpiresAt = now.Add(time.Minute) }},
		{name: "huge-ttl", p: func(p *store.RotateParams) { p.RefreshTTL = math.MaxInt64 }},
		{name: "inactive-skip", edit: func(s *store.Session) { s.UserID = "u0" }, p: func(p *store.RotateParams) { p.SkipUserCheck = true }},
		{name: "unknown-user-skip", edit: func(s *store.Session) { s.UserID = "nobody" }, p: func(p *store.RotateParams) { p.SkipUserCheck = true }},
		{name: "gen-behind", edit: func(s *store.Session) { s.Generation = 2 }, stale: true},
		{name: "gen-ahead", p: func(p *store.RotateParams) { p.Generation = 2 }, stale: true},
		{name: "refresh-expired", edit: func(s *store.Session) { s.RefreshExpiresAt = now }, stale: true},
		{name: "absolute-expired", edit: func(s *store.Session) { s.AbsoluteExpiresAt = now }, stale: true},
		{name: "revoked", edit: func(s *store.Session) { s.RevokedAt, s.RevokeReason = bt0.Add(time.Minute), "logout" }, stale: true},
		{name: "inactive-user", edit: func(s *store.Session) { s.UserID = "u0" }, stale: true},
		{name: "unknown-user", edit: func(s *store.Session) { s.UserID = "nobody" }, stale: true},
		{name: "bound-proof", edit: bind, p: withProof},
		{name: "bound-no-proof", edit: bind, p: func(p *store.RotateParams) { p.JKT = "jkt" }},
		{name: "bound-as-bearer", edit: bind, stale: true},
		{name: "bearer-as-bound", p: withProof, stale: true},
		{name: "replayed", edit: bind, p: func(p *store.RotateParams) {
			withProof(p)
			if err := db.UseProof(ctx, *p.Proof); err != nil {
				t.Fatal(err)
			}
		}, replay: true},
	}
	// The same cases twice: all in one batch (rotateManySQL), and each alone
	// (rotateOneSQL). Both must answer exactly the same.
	for _, together := range []bool{true, false} {
		prefix := map[bool]string{true: "batch/", false: "alone/"}[together]
		before := make([]store.Session, len(cases))
		ps := make([]store.RotateParams, 0, len(cases)+1)
		for i, c := range cases {
			before[i] = batchSession(t, db, prefix+c.name, c.edit)
			p := store.RotateParams{SessionID: prefix + c.name, Generation: 1, Now: now, RefreshTTL: ttl, Advance: true}
			if c.p != nil {
				c.p(&p)
			}
			ps = append(ps, p)
		}
		ps = append(ps, store.RotateParams{SessionID: prefix + "no-such-session", Generation: 1, Now: now, RefreshTTL: ttl, Advance: true})
		var out []result
		if together {
			out = rotateAll(t, db, ps, 1)
		} else {
			s0, _ := db.BatchStats()
			for _, p := range ps {
				var r result
				r.s, r.err = db.Rotate(ctx, p)
				out = append(out, r)
			}
			if s1, _ := db.BatchStats(); s1-s0 != int64(len(ps)) {
				t.Errorf("%d lone calls ran in %d statements", len(ps), s1-s0)
			}
		}

		for i, c := range cases {
			r, p := out[i], ps[i]
			got := get(t, db, p.SessionID)
			if c.replay {
				if !errors.Is(r.err, store.ErrReplay) || r.s != (store.Session{}) {
					t.Errorf("%s: %+v, %v; want ErrReplay", p.SessionID, r.s, r.err)
				}
				if got != before[i] {
					t.Errorf("%s: replayed, yet the session changed: %+v; was %+v", p.SessionID, got, before[i])
				}
				continue
			}
			if c.stale {
				if !errors.Is(r.err, store.ErrStale) || r.s != (store.Session{}) {
					t.Errorf("%s: %+v, %v; want ErrStale", p.SessionID, r.s, r.err)
				}
				if got != before[i] {
					t.Errorf("%s: stale, yet the session changed: %+v; was %+v", p.SessionID, got, before[i])
				}
				continue
			}
			want := before[i]
			if p.Advance {
				want.Generation++
			}
			want.LastRefreshedAt = now
			want.RefreshExpiresAt = fromNanos(addSaturating(nanos(now), int64(p.RefreshTTL)))
			if want.RefreshExpiresAt.After(want.AbsoluteExpiresAt) {
				want.RefreshExpiresAt = want.AbsoluteExpiresAt
			}
			if r.err != nil || r.s != want || got != want {
				t.Errorf("%s: answered %+v, %v; stored %+v; want %+v", p.SessionID, r.s, r.err, got, want)
			}
		}
		if r := out[len(cases)]; !errors.Is(r.err, store.ErrStale) {
			t.Errorf("%sunknown session: %v, want ErrStale", prefix, r.err)
		}
		if _, err := db.Session(ctx, prefix+"no-such-session"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a rotation of an unknown session created it: %v", err)
		}
	}
}

// TestBatchSameProof: two rotations of distinct sessions presenting one
// DPoP proof, queued into one batch: one statement could rotate both (its
// INSERT … ON CONFLICT skips the second row but both updates would see the
// key inserted), so the batch answers the later one ErrReplay itself; the
// first rotates, the second session is unchanged.
func TestBatchSameProof(t *testing.T) {
	db, _ := batchDB(t, false, Options{})
	now := bt0.Add(time.Hour)
	bind := func(s *store.Session) { s.JKT = "jkt" }
	a, b := batchSession(t, db, "same-proof-a", bind), batchSession(t, db, "same-proof-b", bind)
	proof := &store.ProofUse{Key: []byte("one proof"), Expires: now.Add(time.Minute)}
	release := hold(t, db)
	s0, _ := db.BatchStats()
	out := make([]result, 2)
	var wg sync.WaitGroup
	for i, s := range []store.Session{a, b} {
		wg.Go(func() {
			out[i].s, out[i].err = db.Rotate(context.Background(), store.RotateParams{SessionID: s.ID, Generation: 1, Now: now,
				RefreshTTL: time.Hour, Advance: true, JKT: "jkt", Proof: proof})
		})
		waitQueued(t, db, i+1)
	}
	release()
	wg.Wait()
	if s1, _ := db.BatchStats(); s1-s0 != 1 {
		t.Errorf("%d statements, want 1", s1-s0)
	}
	if out[0].err != nil || out[0].s.Generation != 2 {
		t.Errorf("first: %+v, %v", out[0].s, out[0].err)
	}
	if !errors.Is(out[1].err, store.ErrReplay) {
		t.Errorf("second: %v, want ErrReplay", out[1].err)
	}
	if got := get(t, db, b.ID); got != b {
		t.Errorf("the replaying session changed: %+v; was %+v", got, b)
	}
}

// TestBatchSameSession: ops for one session never share a batch, and the
// second waits for the batch of the first to finish, so the outcome is that
// of running them one after the other, in queue order. With rotation off two touches of one generation both succeed;
// with it on, of two rotations of one generation exactly one does.
func TestBatchSameSession(t *testing.T) {
	db, _ := batchDB(t, false, Options{})
	batchSession(t, db, "touched", nil)
	batchSession(t, db, "rotated", nil)
	now1, now2 := bt0.Add(time.Minute), bt0.Add(2*time.Minute)
	touch := func(at time.Time) store.RotateParams {
		return store.RotateParams{SessionID: "touched", Generation: 1, Now: at, RefreshTTL: time.Hour}
	}
	rot := func(at time.Time) store.RotateParams {
		return store.RotateParams{SessionID: "rotated", Generation: 1, Now: at, RefreshTTL: time.Hour, Advance: true}
	}
	// Queued in this order: the first of each pair goes into the first batch.
	// The second batch may not start before the first has finished, even
	// when the stall timer fires before the first batch's leader has run:
	// the test plays that timer at once (kick with the batch "stalled").
	r := &db.rot
	stalled := func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.inFlight != 1 || len(r.pending) == 0 {
			return // the first batch already finished
		}
		r.started = time.Now().Add(-time.Hour)
		r.dispatchLocked()
		if r.inFlight != 1 {
			t.Errorf("%d batches in flight after a stall with both sessions busy; want 1 (the second waits)", r.inFlight)
		}
	}
	r.mu.Lock()
	r.maxInFlight = 2 // room for a second batch, so only the sessions can hold it back
	r.mu.Unlock()
	out := rotateAllThen(t, db, []store.RotateParams{touch(now1), rot(now1), touch(now2), rot(now2)}, 2, stalled)

	for i, at := range []time.Time{now1, now2} {
		if r := out[2*i]; r.err != nil || r.s.Generation != 1 || !r.s.LastRefreshedAt.Equal(at) {
			t.Errorf("touch %d: %+v, %v; want generation 1 refreshed at %v", i, r.s, r.err, at)
		}
	}
	if s := get(t, db, "touched"); s.Generation != 1 || !s.LastRefreshedAt.Equal(now2) || !s.RefreshExpiresAt.Equal(now2.Add(time.Hour)) {
		t.Errorf("touched twice: %+v; want generation 1, refreshed at %v", s, now2)
	}
	if r := out[1]; r.err != nil || r.s.Generation != 2 {
		t.Errorf("first rotation: %+v, %v; want generation 2", r.s, r.err)
	}
	if r := out[3]; !errors.Is(r.err, store.ErrStale) {
		t.Errorf("second rotation of the same generation: %+v, %v; want ErrStale", r.s, r.err)
	}
	if s := get(t, db, "rotated"); s.Generation != 2 || !s.LastRefreshedAt.Equal(now1) {
		t.Errorf("rotated: %+v; want generation 2 refreshed at %v", s, now1)
	}
}

// TestBatchStatementFails: a statement that fails half way (a trigger raises
// on one of its rows, after others were updated) is rolled back whole, and
// every op of its batch fails with its error: none is acknowledged, none is
// applied, and nothing is consumed (the same rotations succeed afterwards).
func TestBatchStatementFails(t *testing.T) {
	db, _ := batchDB(t, false, Options{})
	ctx := context.Background()
	const n = 40
	ps := make([]store.RotateParams, n)
	before := make([]store.Session, n)
	for i := range n {
		before[i] = batchSession(t, db, fmt.Sprintf("s%02d", i), nil)
		ps[i] = store.RotateParams{SessionID: before[i].ID, Generation: 1, Now: bt0.Add(time.Minute), RefreshTTL: time.Hour, Advance: true}
	}
	// Rows are updated in id order, so s00…s19 are already updated when s20
	// raises.
	if _, err := db.pool.Exec(ctx, `
		CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.id = 's20' THEN RAISE EXCEPTION 'boom'; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER boom BEFORE UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION boom()`); err != nil {
		t.Fatal(err)
	}
	out := rotateAll(t, db, ps, 1)
	for i, r := range out {
		if r.err == nil || errors.Is(r.err, store.ErrStale) || r.s != (store.Session{}) {
			t.Errorf("op %d of a failed statement: %+v, %v; want the statement's error", i, r.s, r.err)
		}
		if got := get(t, db, ps[i].SessionID); got != before[i] {
			t.Errorf("%s changed by a failed statement: %+v", ps[i].SessionID, got)
		}
	}
	t.Logf("error of every op: %v", out[0].err)

	if _, err := db.pool.Exec(ctx, `DROP TRIGGER boom ON sessions`); err != nil {
		t.Fatal(err)
	}
	for i, r := range rotateAll(t, db, ps, 1) {
		if r.err != nil || r.s.Generation != 2 {
			t.Errorf("op %d after the failure: %+v, %v; want generation 2", i, r.s, r.err)
		}
	}
}

// TestBatchBackendTerminated: when the server ends the connection a batch
// runs on (a restart, a failover), every op of the batch is
// store.ErrUnavailable, none is applied, and the next calls recover.
func TestBatchBackendTerminated(t *testing.T) {
	db, u := batchDB(t, true, Options{MaxConns: 2})
	ctx := context.Background()
	const n = 10
	ps := make([]store.RotateParams, n)
	for i := range n {
		batchSession(t, db, fmt.Sprintf("s%02d", i), nil)
		ps[i] = store.RotateParams{SessionID: fmt.Sprintf("s%02d", i), Generation: 1, Now: bt0.Add(time.Minute), RefreshTTL: time.Hour, Advance: true}
	}
	// Make sure the pool's idle connections are the ones terminated, then
	// terminate every backend of this test's database but the admin's.
	if err := db.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var terminated int
	if err := admin.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000))
		FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&terminated); err != nil || terminated == 0 {
		t.Fatalf("terminated %d backends: %v", terminated, err)
	}

	out := rotateAll(t, db, ps, 1)
	for i, r := range out {
		if !errors.Is(r.err, store.ErrUnavailable) {
			t.Errorf("op %d on a terminated connection: %v; want store.ErrUnavailable", i, r.err)
		}
	}
	t.Logf("error of every op: %v", out[0].err)
	for i, r := range rotateAll(t, db, ps, 1) {
		if r.err != nil || r.s.Generation != 2 {
			t.Errorf("op %d after the pool redialed: %+v, %v; want generation 2 (nothing consumed)", i, r.s, r.err)
		}
	}
}

// TestBatchCallerGivesUp: a caller whose context ends while it is queued
// leaves with its context's error, changing nothing; one queued longer than
// QueryTimeout is failed as store.ErrUnavailable when its batch forms,
// changing nothing; the others of the batch are served.
func TestBatchCallerGivesUp(t *testing.T) {
	const queryTimeout = 200 * time.Millisecond
	db, _ := batchDB(t, false, Options{QueryTimeout: queryTimeout})
	for _, id := range []string{"gone", "late", "kept"} {
		batchSession(t, db, id, nil)
	}
	p := func(id string) store.RotateParams {
		return store.RotateParams{SessionID: id, Generation: 1, Now: bt0.Add(time.Minute), RefreshTTL: time.Hour, Advance: true}
	}

	release := hold(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	var goneErr, lateErr, keptErr error
	var wg sync.WaitGroup
	wg.Go(func() { _, goneErr = db.Rotate(ctx, p("gone")) })
	wg.Go(func() { _, lateErr = db.Rotate(context.Background(), p("late")) })
	waitQueued(t, db, 2)
	cancel()
	waitQueued(t, db, 1) // "gone" left the queue
	// Let "late" wait past QueryTimeout; "kept" arrives just before release.
	time.Sleep(queryTimeout + 50*time.Millisecond)
	wg.Go(func() { _, keptErr = db.Rotate(context.Background(), p("kept")) })
	waitQueued(t, db, 2)
	release()
	wg.Wait()

	if !errors.Is(goneErr, context.Canceled) {
		t.Errorf("caller that gave up: %v; want context.Canceled", goneErr)
	}
	if !errors.Is(lateErr, store.ErrUnavailable) || !errors.Is(lateErr, context.DeadlineExceeded) {
		t.Errorf("call queued past QueryTimeout: %v; want store.ErrUnavailable wrapping context.DeadlineExceeded", lateErr)
	}
	if keptErr != nil {
		t.Errorf("call batched with a late one: %v", keptErr)
	}
	for id, gen := range map[string]int64{"gone": 1, "late": 1, "kept": 2} {
		if s := get(t, db, id); s.Generation != gen {
			t.Errorf("%s: generation %d, want %d", id, s.Generation, gen)
		}
	}
}

// TestRotateAfterClose: Close leaves nothing running, and a Rotate after it
// fails at once, like every other call on a closed store (never ErrStale,
// which would make the service revoke a session).
func TestRotateAfterClose(t *testing.T) {
	db, _ := batchDB(t, false, Options{})
	batchSession(t, db, "s", nil)
	p := store.RotateParams{SessionID: "s", Generation: 1, Now: bt0.Add(time.Minute), RefreshTTL: time.Hour, Advance: true}
	if _, err := db.Rotate(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	db.Close()
	p.Generation = 2
	_, err := db.Rotate(context.Background(), p)
	if err == nil || errors.Is(err, store.ErrStale) {
		t.Fatalf("Rotate after Close: %v; want an error that is not ErrStale", err)
	}
	_, serr := db.Session(context.Background(), "s")
	t.Logf("Rotate after Close: %v; Session after Close: %v", err, serr)
}

// TestBatchDeadlockRetried: a batch that PostgreSQL aborts to break a
// deadlock (here with another transaction that holds one of its sessions and
// then wants another it holds) is run again, and its ops succeed, as if it
// had simply run later.
//
// Which of two transactions PostgreSQL aborts is the one whose
// deadlock_timeout ends after both wait, and each checks once per wait. So
// the test makes the batch the one that checks, and the last to wait: the
// other transaction checks never (deadlock_timeout of an hour), and the
// batch is held between its two rows (a trigger on s1 waits for an advisory
// lock the test holds) until the other transaction waits for s1. Only then
// does the batch go on to s2 and wait, and its check finds the cycle
// whatever the machine's speed. Its second attempt waits for the other
// transaction to finish (laterAttemptsWaitFor).
func TestBatchDeadlockRetried(t *testing.T) {
	db, u := batchDB(t, true, Options{})
	ctx := context.Background()
	for _, id := range []string{"s1", "s2"} {
		batchSession(t, db, id, nil)
	}
	if _, err := db.pool.Exec(ctx, `
		CREATE FUNCTION pause_s1() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.id = 's1' THEN PERFORM pg_advisory_xact_lock(4242); END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER pause_s1 BEFORE UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION pause_s1()`); err != nil {
		t.Fatal(err)
	}
	laterAttemptsWaitFor(t, db)
	gate := connect(t, u)
	if _, err := gate.Exec(ctx, `SELECT pg_advisory_lock(4242)`); err != nil {
		t.Fatal(err)
	}
	other := connect(t, u)
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL deadlock_timeout = '1h'; SELECT pg_advisory_xact_lock(2)`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM sessions WHERE id = 's2' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}

	// The batch locks s1 and stops in the trigger.
	var out []result
	done := make(chan struct{})
	go func() {
		defer close(done)
		out = rotateAll(t, db, []store.RotateParams{rotateParams("s1"), rotateParams("s2")}, 1)
	}()
	waitLockWait(t, db, "%unnest%", 1)
	// The other transaction wants s1, which the batch holds.
	updated := make(chan error, 1)
	go func() {
		_, err := tx.Exec(ctx, `UPDATE sessions SET ip = '198.51.100.7' WHERE id = 's1'`)
		updated <- err
	}()
	waitLockWait(t, db, "%198.51.100.7%", 1)
	// Now the batch goes on to s2: a deadlock, which the batch detects.
	if _, err := gate.Exec(ctx, `SELECT pg_advisory_unlock(4242)`); err != nil {
		t.Fatal(err)
	}
	if err := <-updated; err != nil {
		t.Fatalf("the other transaction was the deadlock's victim: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	for i, r := range out {
		if r.err != nil || r.s.Generation != 2 {
			t.Errorf("op %d of a batch retried after a deadlock: %+v, %v; want generation 2", i, r.s, r.err)
		}
	}
	if n := db.rot.deadlocks.Load(); n != 1 {
		t.Errorf("%d deadlocks counted, want 1", n)
	}
	if s := get(t, db, "s1"); s.IP != "198.51.100.7" || s.Generation != 2 {
		t.Errorf("s1: %+v; want both the other transaction's update and the rotation", s)
	}
}
