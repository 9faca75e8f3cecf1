package server_test

import (
	"testing"

	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/server"
)

func TestRuntimeDefaults(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	got := server.RuntimeDefaults(1, password.Default, 2, env(nil))
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
	four := server.RuntimeDefaults(4, password.Default, 8, env(nil))
	if four.MemoryLimit != int64(32<<20+4*2*19<<20) || four.Procs != 12 {
		t.Errorf("4 hashes, 8 CPUs: %+v", four)
	}
	if zero := server.RuntimeDefaults(0, password.Default, 2, env(nil)); zero != got {
		t.Errorf("0 hashes counts as 1: %+v; want %+v", zero, got)
	}
	// The operator's GOGC, GOMEMLIMIT and GOMAXPROCS win.
	set := server.RuntimeDefaults(1, password.Default, 2, env(map[string]string{"GOGC": "100", "GOMEMLIMIT": "1GiB", "GOMAXPROCS": "2"}))
	if set != (server.RuntimeSettings{Percent: -1}) {
		t.Errorf("GOGC, GOMEMLIMIT and GOMAXPROCS set: %+v; want all left alone", set)
	}
}
