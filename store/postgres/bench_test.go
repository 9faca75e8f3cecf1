package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres"
)

// BenchmarkRotate measures the refresh's database cost: compare-and-set
// UPDATEs, committed (synchronous_commit as the server is configured), with
// concurrent calls batched into one statement and one commit (batch.go).
//
//	sequential: one caller rotating one session, i.e. the latency floor
//	            (every batch holds one op).
//	parallel:   many callers (8 per GOMAXPROCS) each rotating its own
//	            session, i.e. throughput with the pool's connections busy.
//
// rotations/stmt is the mean batch size: refreshes per statement (and
// commit).
func BenchmarkRotate(b *testing.B) {
	u := migratedDB(b)
	db := openDB(b, u, postgres.Options{MaxConns: 32})
	ctx := context.Background()
	mustCreateUser(b, db, activeUser("u1"))

	// The sub-benchmarks run several times (growing b.N) on one database, so
	// every run gets sessions with fresh ids.
	var next atomic.Int64
	newID := func() string { return fmt.Sprintf("bench-%d", next.Add(1)) }

	b.Run("sequential", func(b *testing.B) {
		id := newID()
		mustCreateSession(b, db, newSession(id, "u1", t0), 0)
		gen := int64(0)
		now := t0
		stmts0, rots0 := db.BatchStats()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			now = now.Add(time.Millisecond)
			if _, err := db.Rotate(ctx, store.RotateParams{
				SessionID: id, Generation: gen, Now: now, RefreshTTL: 24 * time.Hour, Advance: true,
			}); err != nil {
				b.Fatal(err)
			}
			gen++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rotations/s")
		reportBatchSize(b, db, stmts0, rots0)
	})

	b.Run("parallel", func(b *testing.B) {
		const goroutinesPerProc = 8
		b.SetParallelism(goroutinesPerProc)
		stmts0, rots0 := db.BatchStats()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			id := newID()
			if _, err := db.CreateSession(ctx, newSession(id, "u1", t0), 0); err != nil {
				b.Error(err)
				return
			}
			gen := int64(0)
			now := t0
			for pb.Next() {
				now = now.Add(time.Millisecond)
				if _, err := db.Rotate(ctx, store.RotateParams{
					SessionID: id, Generation: gen, Now: now, RefreshTTL: 24 * time.Hour, Advance: true,
				}); err != nil {
					b.Error(err)
					return
				}
				gen++
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rotations/s")
		reportBatchSize(b, db, stmts0, rots0)
	})
}

// reportBatchSize reports the mean number of refreshes per statement since
// BatchStats returned stmts0, rots0. (The sessions the parallel callers
// create are not Rotate calls and do not count.)
func reportBatchSize(b *testing.B, db *postgres.DB, stmts0, rots0 int64) {
	stmts, rots := db.BatchStats()
	if stmts > stmts0 {
		b.ReportMetric(float64(rots-rots0)/float64(stmts-stmts0), "rotations/stmt")
	}
}
