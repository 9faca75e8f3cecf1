package config

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// The default hash concurrency is half the CPUs the process may use: Go's
// GOMAXPROCS at start (which follows a container's CPU limit, or the
// GOMAXPROCS variable), not the machine's CPU count.
func TestHashConcurrencyFollowsStartProcs(t *testing.T) {
	for procs, want := range map[int]int{1: 1, 2: 1, 3: 1, 4: 2, 16: 8, 64: 32} {
		if got := HashConcurrencyFor(procs); got != want {
			t.Errorf("HashConcurrencyFor(%d) = %d; want %d", procs, got, want)
		}
	}
	if os.Getenv("LATCHKEY_PROCS_CHILD") == "1" {
		// Raising GOMAXPROCS later (as latchkey serve does) must not move it.
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 5)
		fmt.Printf("startprocs=%d hashes=%d numcpu=%d\n", StartProcs, Config{}.HashConcurrency(), runtime.NumCPU())
		return
	}
	// A child process started with GOMAXPROCS=6, as a container limited to 6
	// CPUs on a machine with any number of them would be.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHashConcurrencyFollowsStartProcs$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LATCHKEY_PROCS_CHILD=1", "GOMAXPROCS=6")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "startprocs=6 hashes=3 ") {
		t.Fatalf("child with GOMAXPROCS=6: %s", out)
	}
}
