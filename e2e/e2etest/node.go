package e2etest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Node timeouts.
const (
	NPMTimeout  = 5 * time.Minute // npm ci
	NodeTimeout = 2 * time.Minute // one RunNode
)

// RequireNode returns the paths of node and npm. When either is missing it
// skips the test, or fails it when CI=true (CI must run every test).
func RequireNode(t testing.TB, what string) (node, npm string) {
	t.Helper()
	node, err1 := exec.LookPath("node")
	npm, err2 := exec.LookPath("npm")
	if err1 != nil || err2 != nil {
		msg := "node not found: skipping " + what
		if err1 == nil {
			msg = "npm not found: skipping " + what
		}
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " is not allowed when CI=true")
		}
		t.Skip(msg)
	}
	return node, npm
}

// NPMInstall runs `npm ci` in dir when node_modules is missing or older
// than package-lock.json or package.json (npm keeps its own copy of the lock
// in node_modules/.package-lock.json, written at every install).
func NPMInstall(t testing.TB, npm, dir string) {
	t.Helper()
	if !stale(dir) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), NPMTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	t.Logf("npm ci in %s: %s", dir, time.Since(start).Round(time.Millisecond))
}

func stale(dir string) bool {
	installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil {
		return true
	}
	for _, f := range []string{"package-lock.json", "package.json"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.ModTime().After(installed.ModTime()) {
			return true
		}
	}
	return false
}

// RunNode runs node with args in dir, with env added to this process's
// environment, and fails the test with the output when it exits non-zero or
// outlives NodeTimeout. It returns the combined output.
func RunNode(t testing.TB, node, dir string, env map[string]string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), NodeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), environ(env)...)
	cmd.WaitDelay = 5 * time.Second // do not hang on a grandchild holding the pipes
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		t.Fatalf("node %s in %s failed after %s: %v\n%s", strings.Join(args, " "), dir, took, err, out)
	}
	t.Logf("node %s in %s: %s", strings.Join(args, " "), dir, took)
	return string(out)
}
