package server

import (
	"os"
	"runtime/debug"

	"github.com/latchkey-dev/latchkey/password"
)

// GC tuning of the latchkey binary.
//
// Go's default (GOGC=100) collects every time the heap doubles. Latchkey's
// live heap is small (10–20 MiB: keys, pools, the SQLite page cache) while a
// refresh allocates tens of kilobytes, so under load the default collects
// many times a second and the collector was a fifth of the server's CPU in
// the refresh profile (docs/performance.md). GCPercent lets the heap grow to
// five times the live heap between collections instead; the soft memory
// limit makes the collector work harder again before the process grows past
// a bound sized for the work it does: a base for the server itself plus
// twice the memory of every argon2id hash allowed in flight, so a sign-in
// flood cannot push the heap much past it, and the limit never sits below
// what the hashes need (which would make the collector run constantly).
const (
	GCPercent     = 400
	gcLimitBase   = 48 << 20
	gcPerHashCopy = 2
)

// GCSettings are the collector settings TuneGC applies: GOGC and GOMEMLIMIT
// from the environment win; -1 / 0 mean "left as the runtime has it".
type GCSettings struct {
	Percent     int   // the GOGC applied, or -1 when GOGC is set in the environment
	MemoryLimit int64 // the GOMEMLIMIT applied in bytes, or 0 when GOMEMLIMIT is set
}

// GCDefaults returns the settings for a server computing at most hashes
// argon2id hashes at once with params, for the environment lookup getenv.
func GCDefaults(hashes int, params password.Params, getenv func(string) string) GCSettings {
	s := GCSettings{Percent: -1}
	if getenv("GOGC") == "" {
		s.Percent = GCPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		s.MemoryLimit = gcLimitBase + int64(max(hashes, 1))*gcPerHashCopy*int64(params.Memory)*1024
	}
	return s
}

// TuneGC applies GCDefaults for this process's environment. Only the binary
// calls it (latchkey serve and latchkey-load -serve): a program embedding
// the library keeps its own collector settings.
func TuneGC(hashes int, params password.Params) GCSettings {
	s := GCDefaults(hashes, params, os.Getenv)
	if s.Percent > 0 {
		debug.SetGCPercent(s.Percent)
	}
	if s.MemoryLimit > 0 {
		debug.SetMemoryLimit(s.MemoryLimit)
	}
	return s
}
