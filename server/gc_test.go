package server_test

import (
	"testing"

	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/server"
)

func TestGCDefaults(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	got := server.GCDefaults(1, password.Default, env(nil))
	if got.Percent != server.GCPercent {
		t.Errorf("GOGC unset: percent = %d; want %d", got.Percent, server.GCPercent)
	}
	// 48 MiB for the server plus two copies of one 19 MiB argon2id hash.
	if want := int64(48<<20 + 2*19<<20); got.MemoryLimit != want {
		t.Errorf("GOMEMLIMIT unset, 1 hash: limit = %d; want %d", got.MemoryLimit, want)
	}
	// The limit grows with the hashes allowed in flight, so it never sits
	// below what they need.
	if four := server.GCDefaults(4, password.Default, env(nil)); four.MemoryLimit != int64(48<<20+4*2*19<<20) {
		t.Errorf("4 hashes: limit = %d", four.MemoryLimit)
	}
	if zero := server.GCDefaults(0, password.Default, env(nil)); zero.MemoryLimit != got.MemoryLimit {
		t.Errorf("0 hashes counts as 1: limit = %d; want %d", zero.MemoryLimit, got.MemoryLimit)
	}
	// The operator's GOGC and GOMEMLIMIT win.
	set := server.GCDefaults(1, password.Default, env(map[string]string{"GOGC": "100", "GOMEMLIMIT": "1GiB"}))
	if set.Percent != -1 || set.MemoryLimit != 0 {
		t.Errorf("GOGC and GOMEMLIMIT set: %+v; want both left alone", set)
	}
}
