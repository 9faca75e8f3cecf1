package password

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// hashNice is how much less CPU priority a hash gets than the rest of the
// process (nice steps).
const hashNice = 10

// lowPriority runs f on an OS thread of its own whose nice value is raised
// by hashNice, and waits for it.
//
// An argon2id hash is tens of milliseconds of pure CPU. Under a flood of
// sign-ins the hashes (capped by the concurrency limit) would otherwise take
// their CPUs at the same priority as the refreshes, the cheap requests every
// client makes, and stretch their latency (docs/performance.md). At nice +10
// the kernel gives a hash thread about a tenth of the weight of a normal one
// when CPUs are contended, and all of an idle CPU otherwise.
//
// The goroutine exits without unlocking its thread, so the Go runtime ends
// that thread instead of reusing it: the lowered priority never leaks to
// other goroutines, and it never has to be raised back (which an
// unprivileged process may not do).
//
// f runs whatever happens; the error says why the priority could not be
// lowered (a seccomp filter refusing setpriority, as systemd's
// SystemCallFilter=~@resources does), and the hash then ran at the
// process's own priority.
func lowPriority(f func()) error {
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		tid := unix.Gettid()
		// The raw syscall returns 20 - nice.
		var raw int
		if raw, err = unix.Getpriority(unix.PRIO_PROCESS, tid); err == nil {
			err = unix.Setpriority(unix.PRIO_PROCESS, tid, min(20-raw+hashNice, 19))
		}
		f()
	}()
	<-done
	return err
}
