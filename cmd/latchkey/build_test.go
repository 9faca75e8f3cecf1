package main

import (
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/server/servertest"
)

// parseVersion reads `latchkey version` output: one "key value" per line.
func parseVersion(t *testing.T, out string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("version line %q: want key value", line)
		}
		m[k] = strings.TrimSpace(v)
	}
	for _, k := range []string{"version", "revision", "time", "modified", "go", "platform", "ca-roots"} {
		if m[k] == "" {
			t.Fatalf("version output lacks %s:\n%s", k, out)
		}
	}
	return m
}

func TestVersionCommand(t *testing.T) {
	code, out, errs := cli(t, "", "version")
	if code != 0 {
		t.Fatalf("version: %d %s", code, errs)
	}
	m := parseVersion(t, out)
	if m["go"] != runtime.Version() || m["platform"] != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("go %q platform %q", m["go"], m["platform"])
	}
	if n, err := strconv.Atoi(m["ca-roots"]); err != nil || n < 1 {
		t.Errorf("ca-roots %q: want the system's or the embedded roots", m["ca-roots"])
	}
	// What an image build stamps with -ldflags -X wins over the build info.
	defer func(v, r, tm, mod string) { version, revision, revisionTime, modified = v, r, tm, mod }(version, revision, revisionTime, modified)
	version, revision, revisionTime, modified = "v1.4.0", "0123456789abcdef0123456789abcdef01234567", "2026-11-30T12:00:00Z", "false"
	_, out, _ = cli(t, "", "version")
	m = parseVersion(t, out)
	if m["version"] != "v1.4.0" || m["revision"] != revision || m["time"] != revisionTime || m["modified"] != "false" {
		t.Errorf("stamped build: %v", m)
	}
}

func TestHealthcheckCommand(t *testing.T) {
	s := servertest.Start(t, nil)
	addr := "--http-addr=" + strings.TrimPrefix(s.URL, "http://")
	if code, out, errs := cli(t, "", "healthcheck", addr); code != 0 || !strings.Contains(out, `"database":"ok"`) {
		t.Fatalf("healthcheck of a ready server: %d %q %q", code, out, errs)
	}
	if code, out, errs := cli(t, "", "healthcheck", addr, "--path=/healthz"); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("healthcheck --path=/healthz: %d %q %q", code, out, errs)
	}
	if code, _, errs := cli(t, "", "healthcheck", addr, "--path=/nope"); code != 1 || !strings.Contains(errs, "404") {
		t.Fatalf("healthcheck of a 404: %d %q; want exit 1 naming the status", code, errs)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if code, _, errs := cli(t, "", "healthcheck", "--http-addr="+closed, "--timeout=2s"); code != 1 || !strings.Contains(errs, "healthcheck:") {
		t.Fatalf("healthcheck with nothing listening: %d %q; want exit 1", code, errs)
	}
}

func TestLocalURL(t *testing.T) {
	for addr, want := range map[string]string{
		":8080": "http://127.0.0.1:8080", "0.0.0.0:8080": "http://127.0.0.1:8080", "[::]:8080": "http://[::1]:8080",
		"127.0.0.1:9000": "http://127.0.0.1:9000", "10.1.2.3:80": "http://10.1.2.3:80", "localhost:8080": "http://localhost:8080",
	} {
		if got, err := localURL(addr); err != nil || got != want {
			t.Errorf("localURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
}
