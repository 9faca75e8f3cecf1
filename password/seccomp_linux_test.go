package password_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/latchkey-dev/latchkey/password"
)

// denySetpriority installs a seccomp filter on every thread of this process
// that fails setpriority(2) with EPERM, as systemd's
// SystemCallFilter=~@resources (with SystemCallErrorNumber=EPERM) does.
func denySetpriority() error {
	var arch uint32
	switch runtime.GOARCH {
	case "amd64":
		arch = unix.AUDIT_ARCH_X86_64
	case "arm64":
		arch = unix.AUDIT_ARCH_AARCH64
	default:
		return errors.New("no seccomp architecture for " + runtime.GOARCH)
	}
	const (
		ldAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret   = unix.BPF_RET | unix.BPF_K
		allow = 0x7fff0000 // SECCOMP_RET_ALLOW
	)
	// struct seccomp_data: int nr at offset 0, u32 arch at offset 4.
	prog := []unix.SockFilter{
		{Code: ldAbs, K: 4},
		{Code: jeq, K: arch, Jt: 0, Jf: 3},
		{Code: ldAbs, K: 0},
		{Code: jeq, K: unix.SYS_SETPRIORITY, Jt: 0, Jf: 1},
		{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{Code: ret, K: allow},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("seccomp: %w", e)
	}
	return nil
}

// Where a seccomp filter refuses setpriority (systemd's ~@resources), the
// hashes still work, and the Hasher reports the failure once, however many
// hashes run. The filter is installed in a child process of this test
// binary, so the test process keeps its own priorities.
func TestPriorityFailureReportedOnce(t *testing.T) {
	if os.Getenv("LATCHKEY_SECCOMP_CHILD") == "1" {
		if err := denySetpriority(); err != nil {
			fmt.Println("SKIP:", err)
			return
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, 0); !errors.Is(err, syscall.EPERM) {
			fmt.Println("FILTER NOT ACTIVE:", err)
			return
		}
		h := password.New(password.Cheap, 2, 2)
		var reports []error
		h.OnPriorityError(func(err error) { reports = append(reports, err) })
		for range 3 {
			enc, err := h.Hash(context.Background(), "correct horse")
			if err != nil {
				fmt.Println("HASH FAILED:", err)
				return
			}
			if ok, _, err := h.Verify(context.Background(), enc, "correct horse"); !ok || err != nil {
				fmt.Println("VERIFY FAILED:", ok, err)
				return
			}
		}
		fmt.Printf("reports=%d eperm=%v\n", len(reports), len(reports) == 1 && errors.Is(reports[0], syscall.EPERM))
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPriorityFailureReportedOnce$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "LATCHKEY_SECCOMP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if s := string(out); strings.Contains(s, "SKIP:") {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: cannot install a seccomp filter: %s", s)
		}
		t.Skipf("cannot install a seccomp filter here: %s", s[strings.Index(s, "SKIP:"):])
	}
	if !strings.Contains(string(out), "reports=1 eperm=true") {
		t.Fatalf("child output:\n%s\nwant one report of EPERM after six hashes", out)
	}
}
