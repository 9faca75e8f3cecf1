package password

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// Hashes run on a thread of their own, hashNice steps nicer than the caller,
// and the caller's thread keeps its priority.
func TestLowPriorityThread(t *testing.T) {
	// Pin the test to its thread, so the hash cannot borrow it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		t.Skipf("getpriority: %v", err)
	}
	callerTID := unix.Gettid()
	var inside, tid int
	lowPriority(func() {
		tid = unix.Gettid()
		inside, err = unix.Getpriority(unix.PRIO_PROCESS, tid)
	})
	if err != nil {
		t.Fatal(err)
	}
	if tid == callerTID {
		t.Fatalf("the hash ran on the caller's thread %d", tid)
	}
	// getpriority(2) returns 20 - nice.
	if want := max(before-hashNice, 1); inside != want {
		t.Errorf("hash thread: getpriority = %d (nice %d); want %d (nice %d)", inside, 20-inside, want, 20-want)
	}
	if after, _ := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid()); after != before {
		t.Errorf("caller's thread: getpriority %d -> %d", before, after)
	}
}
