package server_test

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/server"
)

func TestRuntimeDefaults(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	got := server.RuntimeDefaults(1, 0, password.Default, 2, env(nil))
	if got.Percent != server.GCPercent {
		t.Errorf("GOGC unset: percent = %d; want %d", got.Percent, server.GCPercent)
	}
	// 32 MiB for the server plus two copies of one 19 MiB argon2id hash.
	if want := int64(32<<20 + 2*19<<20); got.MemoryLimit != want {
		t.Errorf("GOMEMLIMIT unset, 1 hash: limit = %d; want %d", got.MemoryLimit, want)
	}
	// One P per CPU for the requests, plus one per hash slot.
	if got.Procs != 3 {
		t.Errorf("GOMAXPROCS unset, 2 CPUs, 1 hash: procs = %d; want 3", got.Procs)
	}
	// The limit and the Ps grow with the hashes allowed in flight.
	four := server.RuntimeDefaults(4, 0, password.Default, 8, env(nil))
	if four.MemoryLimit != int64(32<<20+4*2*19<<20) || four.Procs != 12 {
		t.Errorf("4 hashes, 8 CPUs: %+v", four)
	}
	// Every connection MAX_CONNECTIONS allows adds 16 KiB (1,024: 16 MiB),
	// so idle connections held at the cap cannot keep the heap at the limit.
	if conns := server.RuntimeDefaults(1, 1024, password.Default, 2, env(nil)); conns.MemoryLimit != got.MemoryLimit+16<<20 {
		t.Errorf("1,024 connections: limit = %d; want %d", conns.MemoryLimit, got.MemoryLimit+16<<20)
	}
	// A huge MAX_CONNECTIONS does not overflow into a small (or negative)
	// limit: 2^50 connections × 16 KiB wrapped to 0, a 70 MiB limit.
	for _, n := range []int{1_000_000, 1_000_000_000, 1 << 50, 3 << 49, math.MaxInt} {
		huge := server.RuntimeDefaults(1, n, password.Default, 2, env(nil))
		if want := got.MemoryLimit + int64(n)*16<<10; n < 1<<49 && huge.MemoryLimit != want {
			t.Errorf("MAX_CONNECTIONS=%d: limit = %d; want %d", n, huge.MemoryLimit, want)
		} else if n >= 1<<49 && huge.MemoryLimit != math.MaxInt64 {
			t.Errorf("MAX_CONNECTIONS=%d: limit = %d; want %d (no limit)", n, huge.MemoryLimit, int64(math.MaxInt64))
		}
	}
	if zero := server.RuntimeDefaults(0, 0, password.Default, 2, env(nil)); zero != got {
		t.Errorf("0 hashes counts as 1: %+v; want %+v", zero, got)
	}
	// The operator's GOGC, GOMEMLIMIT and GOMAXPROCS win.
	set := server.RuntimeDefaults(1, 1024, password.Default, 2, env(map[string]string{"GOGC": "100", "GOMEMLIMIT": "1GiB", "GOMAXPROCS": "2"}))
	if set != (server.RuntimeSettings{Percent: -1}) {
		t.Errorf("GOGC, GOMEMLIMIT and GOMAXPROCS set: %+v; want all left alone", set)
	}
}

// TuneRuntime counts the CPUs as the process started (config.StartProcs),
// not the GOMAXPROCS it raised itself: a second call changes nothing, and the
// default hash concurrency is half the same figure.
func TestTuneRuntimeUsesStartProcs(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" || os.Getenv("GOMEMLIMIT") != "" || os.Getenv("GOGC") != "" {
		t.Skip("GOMAXPROCS, GOMEMLIMIT or GOGC set in the environment: TuneRuntime leaves them alone")
	}
	procs, gc, limit := runtime.GOMAXPROCS(0), debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs); debug.SetGCPercent(gc); debug.SetMemoryLimit(limit) })
	hashes := config.Config{}.HashConcurrency()
	if hashes != config.HashConcurrencyFor(config.StartProcs) {
		t.Fatalf("default hashes %d; want half of StartProcs %d", hashes, config.StartProcs)
	}
	first := server.TuneRuntime(hashes, 1024, password.Default)
	second := server.TuneRuntime(hashes, 1024, password.Default)
	if first != second || first.Procs != config.StartProcs+hashes || runtime.GOMAXPROCS(0) != first.Procs {
		t.Fatalf("TuneRuntime twice: %+v then %+v, GOMAXPROCS %d; want StartProcs %d + %d hashes both times",
			first, second, runtime.GOMAXPROCS(0), config.StartProcs, hashes)
	}
}
