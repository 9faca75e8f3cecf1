package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/server"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// BenchmarkRefreshSQLite and BenchmarkRefreshPostgres measure a whole
// refresh through the domain, auth.Service.Refresh: verify the refresh JWT
// (HMAC), one atomic compare-and-set in the store (Rotate), then sign a new
// ES256 access token and a new refresh token. Wiring is the binary's
// (server.Open with default settings), with rate limits off and cheap
// password hashing (sign-in is not measured).
//
//	sequential: one session refreshed over and over: the latency of one refresh.
//	parallel:   8 goroutines per GOMAXPROCS, each refreshing a session of its
//	            own user: throughput with the pool's connections busy.
func BenchmarkRefreshSQLite(b *testing.B) {
	benchRefresh(b, "sqlite://"+filepath.Join(b.TempDir(), "latchkey.db"))
}

func BenchmarkRefreshPostgres(b *testing.B) {
	benchRefresh(b, pgtest.FreshDatabase(b))
}

func benchRefresh(b *testing.B, dbURL string) {
	svc := openService(b, dbURL)
	ctx := context.Background()
	var users atomic.Int64
	signIn := func(b *testing.B) string {
		email := fmt.Sprintf("bench%d@example.com", users.Add(1))
		if _, err := svc.SignUp(ctx, email, "correct horse battery"); err != nil {
			b.Fatal(err)
		}
		g, err := svc.SignIn(ctx, email, "correct horse battery", auth.Meta{IP: "127.0.0.1"})
		if err != nil {
			b.Fatal(err)
		}
		return g.RefreshToken
	}

	b.Run("sequential", func(b *testing.B) {
		tok := signIn(b)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			g, err := svc.Refresh(ctx, tok, "", auth.Meta{IP: "127.0.0.1"})
			if err != nil {
				b.Fatal(err)
			}
			tok = g.RefreshToken
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refreshes/s")
	})

	b.Run("parallel", func(b *testing.B) {
		const perProc = 8
		b.SetParallelism(perProc)
		// One session per goroutine, signed in before the clock starts and
		// one at a time: sign-ins at once would meet the password-hash limit
		// (PASSWORD_HASH_CONCURRENCY and its queue) and get 503.
		toks := make([]string, perProc*runtime.GOMAXPROCS(0))
		for i := range toks {
			toks[i] = signIn(b)
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			tok := toks[int(next.Add(1)-1)%len(toks)]
			for pb.Next() {
				g, err := svc.Refresh(ctx, tok, "", auth.Meta{IP: "127.0.0.1"})
				if err != nil {
					b.Error(err)
					return
				}
				tok = g.RefreshToken
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refreshes/s")
	})
}

// openService opens, migrates and wires the store of dbURL as `latchkey
// serve` does, with the default settings otherwise.
func openService(b *testing.B, dbURL string) *auth.Service {
	b.Helper()
	ctx := context.Background()
	cfg, err := config.Load(nil, map[string]string{"DATABASE_URL": dbURL, "RATE_LIMITS": "off"})
	if err != nil {
		b.Fatal(err)
	}
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		b.Fatal(err)
	}
	cheap := password.Cheap
	app, err := server.Open(ctx, cfg, st, server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HashParams: &cheap})
	if err != nil {
		st.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() { app.Close() })
	return app.Service
}
