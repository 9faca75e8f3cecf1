package server

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/password"
)

// Go runtime tuning of the latchkey binary.
//
// Collector: Go's default (GOGC=100) collects every time the heap doubles.
// Latchkey's live heap is small (10–20 MiB: keys, pools, the SQLite page
// cache) while a refresh allocates tens of kilobytes, so under load the
// default collects many times a second and the collector was a fifth of the
// server's CPU in the refresh profile (docs/performance.md). GCPercent lets
// the heap grow to five times the live heap between collections instead; the
// soft memory limit makes the collector work harder again before the process
// grows past a bound sized for the work it does: a base for the server itself,
// plus twice the memory of every argon2id hash allowed in flight, plus what
// every connection MAX_CONNECTIONS allows holds while it is open (its
// goroutine and buffers, about 16 KiB idle), so a sign-in flood cannot push
// the heap much past it, and the limit never sits below what the hashes and
// the open connections need. A limit below them makes the collector run
// constantly, and each run scans every open connection's goroutine stack:
// 5,000 idle keep-alive connections held at a 4,096 cap under a 70 MiB limit
// cut refreshes to a fifth (docs/performance.md, "Idle connections").
//
// Processors: a password hash is tens of milliseconds of pure Go, and a
// goroutine running one holds a Go processor (P) all that time. With
// GOMAXPROCS equal to the CPUs, a sign-in flood that keeps the hash slots
// busy leaves every other request fewer Ps than there are CPUs, however low
// the hash threads' OS priority (password/lowprio_linux.go). One extra P per
// hash slot lets the rest of the server keep a P per CPU; the kernel then
// shares the CPUs between the hash threads (nice +10) and the others.
//
// "The CPUs" is config.StartProcs, GOMAXPROCS as the process started: Go
// sets it from the CPUs the process may use, a container's CPU limit
// included, and the default hash concurrency is half of it. Both figures come
// from that one reading, taken before TuneRuntime raises GOMAXPROCS, so the
// hash slots, the soft memory limit and the Ps agree, and a second call
// changes nothing. (A pod limited to 2 CPUs on a 64-CPU node gets one hash
// slot, a 70 MiB soft limit and 3 Ps; counting the node's CPUs gave it 32
// slots and a 1.2 GiB limit.) Setting GOMAXPROCS explicitly stops Go from
// following a CPU limit changed while the process runs; a restart picks it up.
const (
	GCPercent     = 400
	gcLimitBase   = 32 << 20
	gcPerHashCopy = 2
	gcPerConn     = 16 << 10
)

// RuntimeSettings are what TuneRuntime applies. GOGC, GOMEMLIMIT and
// GOMAXPROCS set in the environment win: the matching field is then -1, 0
// and 0, "left as the runtime has it".
type RuntimeSettings struct {
	Percent     int   // the GOGC applied
	MemoryLimit int64 // the GOMEMLIMIT applied, in bytes
	Procs       int   // the GOMAXPROCS applied
}

// RuntimeDefaults returns the settings for a server computing at most hashes
// password hashes at once with params and keeping at most conns connections
// open (MAX_CONNECTIONS; 0, no limit, adds nothing for them), on procs CPUs
// (the runtime's default GOMAXPROCS at start), for the environment lookup
// getenv.
func RuntimeDefaults(hashes, conns int, params password.Params, procs int, getenv func(string) string) RuntimeSettings {
	hashes = max(hashes, 1)
	s := RuntimeSettings{Percent: -1}
	if getenv("GOGC") == "" {
		s.Percent = GCPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		s.MemoryLimit = gcLimitBase + int64(hashes)*gcPerHashCopy*int64(params.Memory)*1024
		// A MAX_CONNECTIONS so large that its share overflows int64 (past
		// 5.6e14) allows as much as no limit: math.MaxInt64, Go's default.
		if c := int64(max(conns, 0)); c > (math.MaxInt64-s.MemoryLimit)/gcPerConn {
			s.MemoryLimit = math.MaxInt64
		} else {
			s.MemoryLimit += c * gcPerConn
		}
	}
	if getenv("GOMAXPROCS") == "" {
		s.Procs = procs + hashes
	}
	return s
}

// TuneRuntime applies RuntimeDefaults for this process. Only the binary calls
// it (latchkey serve and latchkey-load -serve): a program embedding the
// library keeps its own runtime settings.
func TuneRuntime(hashes, conns int, params password.Params) RuntimeSettings {
	s := RuntimeDefaults(hashes, conns, params, config.StartProcs, os.Getenv)
	if s.Percent > 0 {
		debug.SetGCPercent(s.Percent)
	}
	if s.MemoryLimit > 0 {
		debug.SetMemoryLimit(s.MemoryLimit)
	}
	if s.Procs > 0 {
		runtime.GOMAXPROCS(s.Procs)
	}
	return s
}
