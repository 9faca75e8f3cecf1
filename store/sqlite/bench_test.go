package sqlite_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/sqlite"
)

// BenchmarkRotate measures the refresh hot path: one Rotate (one committed
// write) per op, on one session sequentially and on many sessions from
// parallel goroutines, at each synchronous mode.
func BenchmarkRotate(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run("sync="+sync+"/sequential", func(b *testing.B) {
			db, ids := benchSessions(b, sync, 1)
			now := benchBase
			b.ReportAllocs()
			b.ResetTimer()
			for i := range int64(b.N) {
				now = now.Add(time.Microsecond)
				if _, err := db.Rotate(context.Background(), store.RotateParams{
					SessionID: ids[0], Generation: i, Now: now, RefreshTTL: 24 * time.Hour, Advance: true,
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("sync="+sync+"/parallel", func(b *testing.B) {
			const goroutinesPerCPU = 8
			db, ids := benchSessions(b, sync, 256)
			var next atomic.Int64
			b.SetParallelism(goroutinesPerCPU)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				id := ids[int(next.Add(1)-1)%len(ids)]
				now := benchBase
				for gen := int64(0); pb.Next(); gen++ {
					now = now.Add(time.Microsecond)
					if _, err := db.Rotate(context.Background(), store.RotateParams{
						SessionID: id, Generation: gen, Now: now, RefreshTTL: 24 * time.Hour, Advance: true,
					}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if n, w := db.BatchStats(); n > 0 {
				b.ReportMetric(float64(w)/float64(n), "writes/commit")
			}
		})
	}
}

var benchBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// benchSessions opens a migrated database with n live sessions of one user.
func benchSessions(b *testing.B, sync string, n int) (*sqlite.DB, []string) {
	b.Helper()
	db := openTest(b, sqlite.Options{Synchronous: sync})
	ctx := context.Background()
	u := store.User{ID: "u1", Email: "bench@example.com", PasswordHash: "x",
		Status: store.UserActive, CreatedAt: benchBase, UpdatedAt: benchBase}
	if err := db.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("s%04d", i)
		if _, err := db.CreateSession(ctx, store.Session{ID: ids[i], UserID: u.ID,
			CreatedAt: benchBase, LastRefreshedAt: benchBase, RefreshExpiresAt: benchBase.Add(24 * time.Hour),
			AbsoluteExpiresAt: benchBase.Add(720 * time.Hour)}, 0); err != nil {
			b.Fatal(err)
		}
	}
	return db, ids
}
