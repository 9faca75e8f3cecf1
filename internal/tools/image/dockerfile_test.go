package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ENV, ...
	args string
}

// readDockerfile returns the instructions of the build stage and of the final
// stage (everything after the last FROM) of the repository's Dockerfile.
func readDockerfile(t *testing.T) (build, final []instruction) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var all [][]instruction
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" || len(all) == 0 {
			all = append(all, nil)
		}
		all[len(all)-1] = append(all[len(all)-1], in)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	if len(all) < 3 { // the global ARGs, the build stage, the final stage
		t.Fatalf("Dockerfile: want global ARGs, a build stage and a final stage, got %d parts", len(all))
	}
	return all[len(all)-2], all[len(all)-1]
}

// words splits s at spaces outside double quotes and drops the quotes.
func words(s string) []string {
	var out []string
	var w strings.Builder
	in, any := false, false
	for _, r := range s {
		switch {
		case r == '"':
			in, any = !in, true
		case r == ' ' && !in:
			if any {
				out = append(out, w.String())
			}
			w.Reset()
			any = false
		default:
			w.WriteRune(r)
			any = true
		}
	}
	if any {
		out = append(out, w.String())
	}
	return out
}

func pairs(t *testing.T, s string) [][2]string {
	t.Helper()
	var out [][2]string
	for _, w := range words(s) {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			t.Fatalf("want key=value, got %q in %q", w, s)
		}
		out = append(out, [2]string{k, v})
	}
	return out
}

func jsonArray(t *testing.T, s string) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("want a JSON array (exec form), got %q: %v", s, err)
	}
	return v
}

// The Dockerfile and the daemonless builder declare the same image: the
// config (user, entrypoint and command, environment, port, volume,
// healthcheck, labels), the same two files with the same owners and modes,
// and a binary built with the same flags. Docker cannot run here, so this is
// checked by reading the Dockerfile.
func TestDockerfileMatchesBuilder(t *testing.T) {
	build, final := readDockerfile(t)
	const version, revision, created, licenses = "${VERSION}", "${REVISION}", "${REVISION_TIME}", "${LICENSES}"
	want := Config(version, revision, created, licenses)
	seen := map[string]bool{}
	args := map[string]string{}
	var copies []string
	for _, in := range final {
		seen[in.cmd] = true
		switch in.cmd {
		case "FROM":
			if in.args != "scratch" {
				t.Errorf("final stage FROM %s; want scratch (the builder's image has no base)", in.args)
			}
		case "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			args[k] = v
		case "COPY":
			copies = append(copies, in.args)
		case "USER":
			if in.args != want.User {
				t.Errorf("USER %s; want %s", in.args, want.User)
			}
		case "ENV":
			var env []string
			for _, p := range pairs(t, in.args) {
				env = append(env, p[0]+"="+p[1])
			}
			if !slices.Equal(env, Env) {
				t.Errorf("ENV %q; want %q", env, Env)
			}
		case "EXPOSE":
			got := map[string]struct{}{}
			for _, p := range strings.Fields(in.args) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				got[p] = struct{}{}
			}
			if !maps.Equal(got, want.ExposedPorts) {
				t.Errorf("EXPOSE %s; want %v", in.args, want.ExposedPorts)
			}
		case "VOLUME":
			if v := jsonArray(t, in.args); !slices.Equal(v, slices.Collect(maps.Keys(want.Volumes))) {
				t.Errorf("VOLUME %q; want %v", v, want.Volumes)
			}
		case "HEALTHCHECK":
			opts, cmd, ok := strings.Cut(in.args, "CMD ")
			if !ok {
				t.Fatalf("HEALTHCHECK %s: want options and CMD [...]", in.args)
			}
			if got := append([]string{"CMD"}, jsonArray(t, cmd)...); !slices.Equal(got, want.Healthcheck.Test) {
				t.Errorf("HEALTHCHECK CMD %q; want %q", got, want.Healthcheck.Test)
			}
			durations := map[string]time.Duration{"--interval": want.Healthcheck.Interval, "--timeout": want.Healthcheck.Timeout,
				"--start-period": want.Healthcheck.StartPeriod}
			for _, o := range strings.Fields(opts) {
				k, v, _ := strings.Cut(o, "=")
				if k == "--retries" {
					if v != "3" || want.Healthcheck.Retries != 3 {
						t.Errorf("HEALTHCHECK --retries=%s; builder %d", v, want.Healthcheck.Retries)
					}
					continue
				}
				d, err := time.ParseDuration(v)
				if w, ok := durations[k]; !ok || err != nil || d != w {
					t.Errorf("HEALTHCHECK %s; builder %v", o, w)
				}
				delete(durations, k)
			}
			if len(durations) > 0 {
				t.Errorf("HEALTHCHECK lacks %v", durations)
			}
		case "LABEL":
			got := map[string]string{}
			for _, p := range pairs(t, in.args) {
				got[p[0]] = p[1]
			}
			if !maps.Equal(got, want.Labels) {
				t.Errorf("LABEL %v;\nwant %v", got, want.Labels)
			}
		case "ENTRYPOINT":
			if v := jsonArray(t, in.args); !slices.Equal(v, want.Entrypoint) {
				t.Errorf("ENTRYPOINT %q; want %q", v, want.Entrypoint)
			}
		case "CMD":
			if v := jsonArray(t, in.args); !slices.Equal(v, want.Cmd) {
				t.Errorf("CMD %q; want %q", v, want.Cmd)
			}
		default:
			t.Errorf("final stage: %s is not something the builder does", in.cmd)
		}
	}
	for _, c := range []string{"USER", "ENV", "EXPOSE", "VOLUME", "HEALTHCHECK", "LABEL", "ENTRYPOINT", "CMD"} {
		if !seen[c] {
			t.Errorf("final stage has no %s", c)
		}
	}
	// The labels' build arguments default as the builder does.
	if args["LICENSES"] != "NOASSERTION" {
		t.Errorf("ARG LICENSES=%s; the builder's default is NOASSERTION", args["LICENSES"])
	}
	// The same two files, owners and modes as rootfs writes.
	wantCopies := []string{"--from=build /out/latchkey " + Binary,
		"--from=build --chown=65532:65532 --chmod=0700 /out/data " + DataDir}
	if !slices.Equal(copies, wantCopies) {
		t.Errorf("COPY %q;\nwant %q", copies, wantCopies)
	}
	// The binary: static, -trimpath, stripped, version stamped as Build does.
	var run string
	for _, in := range build {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			run = in.args
		}
	}
	for _, w := range []string{"CGO_ENABLED=0", "GOOS=linux", "-trimpath", "-buildvcs=false", `-ldflags="-s -w `,
		"-X main.version=${VERSION}", "-X main.revision=${REVISION}", "-X main.revisionTime=${REVISION_TIME}",
		"-X main.modified=${MODIFIED}", "./cmd/latchkey", "install -d -m 0700 /out/data"} {
		if !strings.Contains(run, w) {
			t.Errorf("build stage: the go build RUN lacks %q:\n%s", w, run)
		}
	}
}
