// Package deploy holds the deployment files of docs/infrastructure.md:
// systemd units (systemd/) and Kubernetes manifests (kubernetes/). Its test
// checks them against the code, since neither a systemd host nor a cluster
// is at hand where the tests run:
//
//   - every environment variable the files set is a Latchkey setting
//     (config.Settings), and the environment each process gets loads and
//     validates with config.Load, as `latchkey serve` would at start;
//   - the probe paths answer 200 on a real server (server/servertest);
//   - the units pass `systemd-analyze verify` and an exposure threshold of
//     `systemd-analyze security --offline` when systemd-analyze is installed,
//     and carry the hardening the guide promises;
//   - each manifest decodes strictly (unknown fields fail) into structs that
//     mirror the Kubernetes API fields the files use, and the pieces fit:
//     selectors match pod labels, Service and probes name a container port
//     that HTTP_ADDR listens on, envFrom names the ConfigMap and the Secret,
//     the CronJob schedule is a five-field cron expression.
//
// The mirror structs are this test's own, not k8s.io/api (which would add
// some twenty modules to go.mod); see docs/infrastructure.md for the one-off
// check against the real types.
package deploy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
	yaml "github.com/oasdiff/yaml3"
)

// settings is the set of Latchkey's environment variables.
func settings(t *testing.T) map[string]bool {
	t.Helper()
	cfg, err := config.Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, s := range cfg.Settings() {
		out[s.Env] = true
	}
	if !out["REFRESH_TOKEN_SECRET"] || !out["DATABASE_URL"] {
		t.Fatalf("config.Settings() looks wrong: %v", out)
	}
	return out
}

func secret() string {
	b := make([]byte, 48)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// load validates env the way `latchkey serve` does at start.
func load(t *testing.T, what string, env map[string]string) config.Config {
	t.Helper()
	cfg, err := config.Load(nil, env)
	if err != nil {
		t.Fatalf("%s: the environment does not load: %v", what, err)
	}
	return cfg
}

func TestProbePathsExist(t *testing.T) {
	s := servertest.Start(t, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := s.Do(t, "GET", path, nil); r.Status != 200 {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}
}

// ---- systemd ----

type unit map[string]map[string][]string // section -> key -> values in order

func readUnit(t *testing.T, name string) unit {
	t.Helper()
	f, err := os.Open(filepath.Join("systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	var section string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] != nil {
				t.Fatalf("%s:%d: section [%s] twice", name, n, section)
			}
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: not a key=value in a section: %q", name, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Fatalf("[%s] %s: want one value, have %q", section, key, v)
	}
	return v[0]
}

// unitEnv is what the Environment= lines set.
func (u unit) env(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, v := range u["Service"]["Environment"] {
		k, val, ok := strings.Cut(v, "=")
		if !ok || strings.ContainsAny(v, `"' `) {
			t.Fatalf("Environment=%s: want one unquoted KEY=value per line", v)
		}
		env[k] = val
	}
	return env
}

var envLine = regexp.MustCompile(`^#?([A-Z][A-Z0-9_]*)=(.*)$`)

// readEnvFile returns the assignments of an EnvironmentFile and the names of
// the commented-out examples in it.
func readEnvFile(t *testing.T, name string) (set map[string]string, commented []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	set = map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		m := envLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if strings.HasPrefix(line, "#") {
			commented = append(commented, m[1])
		} else {
			set[m[1]] = m[2]
		}
	}
	return set, commented
}

// hardening is what docs/infrastructure.md says both services run with.
var hardening = map[string]string{
	"NoNewPrivileges":         "yes",
	"CapabilityBoundingSet":   "",
	"ProtectSystem":           "strict",
	"ProtectHome":             "yes",
	"PrivateTmp":              "yes",
	"PrivateDevices":          "yes",
	"ProtectKernelTunables":   "yes",
	"ProtectKernelModules":    "yes",
	"ProtectControlGroups":    "yes",
	"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
	"RestrictNamespaces":      "yes",
	"RestrictSUIDSGID":        "yes",
	"LockPersonality":         "yes",
	"MemoryDenyWriteExecute":  "yes",
	"SystemCallArchitectures": "native",
	"UMask":                   "0077",
	"StateDirectory":          "latchkey",
	"StateDirectoryMode":      "0700",
	"User":                    "latchkey",
	"EnvironmentFile":         "/etc/latchkey/latchkey.env",
}

func TestSystemdUnits(t *testing.T) {
	known := settings(t)
	file, commented := readEnvFile(t, "latchkey.env.example")
	for k := range file {
		if !known[k] {
			t.Errorf("latchkey.env.example sets %s, which is not a Latchkey setting", k)
		}
	}
	for _, k := range commented {
		if !known[k] {
			t.Errorf("latchkey.env.example mentions %s, which is not a Latchkey setting", k)
		}
	}
	if v, ok := file["REFRESH_TOKEN_SECRET"]; !ok || v != "" {
		t.Errorf("latchkey.env.example: REFRESH_TOKEN_SECRET should be present and empty, to be filled in")
	}

	for _, tc := range []struct{ name, command string }{
		{"latchkey.service", "serve"},
		{"latchkey-purge.service", "purge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := readUnit(t, tc.name)
			if got, want := u.one(t, "Service", "ExecStart"), "/usr/local/bin/latchkey "+tc.command; got != want {
				t.Errorf("ExecStart=%s, want %s", got, want)
			}
			for k, want := range hardening {
				if got := u.one(t, "Service", k); got != want {
					t.Errorf("%s=%s, want %s", k, got, want)
				}
			}
			filters := u["Service"]["SystemCallFilter"]
			if len(filters) < 2 || filters[0] != "@system-service" || filters[1] != "~@privileged @resources" {
				t.Errorf("SystemCallFilter=%q", filters)
			}
			// serve hashes passwords at a lowered thread priority, so it
			// needs setpriority back; purge hashes nothing.
			if wantPrio := tc.command == "serve"; slices.Contains(filters, "setpriority") != wantPrio {
				t.Errorf("SystemCallFilter=%q: setpriority allowed should be %v", filters, wantPrio)
			}
			env := u.env(t)
			for k := range env {
				if !known[k] {
					t.Errorf("Environment=%s...: not a Latchkey setting", k)
				}
			}
			if env["DATABASE_URL"] != "sqlite:///var/lib/latchkey/latchkey.db" {
				t.Errorf("DATABASE_URL=%s: want the file in the StateDirectory", env["DATABASE_URL"])
			}
			// The unit's defaults overridden by the env file, as systemd does.
			for k, v := range file {
				env[k] = v
			}
			if _, err := config.Load(nil, env); err == nil || !strings.Contains(err.Error(), "REFRESH_TOKEN_SECRET") {
				t.Errorf("without a secret the service should refuse to start, naming REFRESH_TOKEN_SECRET: %v", err)
			}
			env["REFRESH_TOKEN_SECRET"] = secret()
			cfg := load(t, tc.name, env)
			if cfg.AppEnv != "production" {
				t.Errorf("APP_ENV=%s", cfg.AppEnv)
			}
		})
	}
	u := readUnit(t, "latchkey.service")
	if u.one(t, "Install", "WantedBy") != "multi-user.target" {
		t.Errorf("latchkey.service: [Install] WantedBy")
	}
	tm := readUnit(t, "latchkey-purge.timer")
	if tm.one(t, "Timer", "OnCalendar") == "" || tm.one(t, "Install", "WantedBy") != "timers.target" {
		t.Errorf("latchkey-purge.timer: %v", tm)
	}
	if _, ok := tm["Timer"]["Unit"]; ok {
		t.Errorf("latchkey-purge.timer: Unit= is not needed, the timer starts latchkey-purge.service by name")
	}
}

// TestSystemdAnalyze runs systemd's own checks on the units: verify (unknown
// keys, bad values, missing units; the output must be empty) under a scratch
// root with a stand-in binary, and the offline security exposure score.
func TestSystemdAnalyze(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is not installed (CI installs systemd: .ci/systemd.sh)")
		}
		t.Skip("systemd-analyze is not installed: the units were checked by TestSystemdUnits only")
	}
	units := []string{"latchkey.service", "latchkey-purge.service", "latchkey-purge.timer"}
	root := t.TempDir()
	for _, d := range []string{"usr/local/bin", "etc/systemd/system", "usr/lib/systemd"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "usr/local/bin/latchkey"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		b, err := os.ReadFile(filepath.Join("systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "etc/systemd/system", u), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The system's own units (network-online.target, timers.target, ...).
	if out, err := exec.Command("cp", "-R", "/usr/lib/systemd/system", filepath.Join(root, "usr/lib/systemd/")).CombinedOutput(); err != nil {
		t.Fatalf("copying /usr/lib/systemd/system: %v %s", err, out)
	}
	out, err := exec.Command(sa, append([]string{"verify", "--root=" + root}, units...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, u := range units[:2] {
		// --threshold is in tenths: fail above an exposure of 2.0 ("OK").
		out, err := exec.Command(sa, "security", "--offline=true", "--threshold=20", "--no-pager", filepath.Join("systemd", u)).CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze security %s: %v\n%s", u, err, out)
		}
		if m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out); m != nil {
			t.Logf("%s: exposure %s", u, m[1])
		}
	}
}

// TestSyscallFilterAllowsSetpriority evaluates the units' SystemCallFilter=
// lines as systemd does (the first line, an allow list, sets the mode; each
// later line adds its calls to the list, or removes them with ~), expanding
// the groups with `systemd-analyze syscall-filter`: latchkey serve may call
// setpriority (its password hashes lower their thread's priority), and no
// other call of @resources or @privileged.
func TestSyscallFilterAllowsSetpriority(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is not installed (CI installs systemd: .ci/systemd.sh)")
		}
		t.Skip("systemd-analyze is not installed: the syscall filter was not evaluated")
	}
	groups := map[string][]string{}
	var expand func(name string) []string
	expand = func(name string) []string {
		if !strings.HasPrefix(name, "@") {
			return []string{name}
		}
		if g, ok := groups[name]; ok {
			return g
		}
		out, err := exec.Command(sa, "syscall-filter", "--no-pager", name).Output()
		if err != nil {
			t.Fatalf("systemd-analyze syscall-filter %s: %v", name, err)
		}
		var calls []string
		for _, line := range strings.Split(string(out), "\n") {
			item := strings.TrimSpace(line)
			if !strings.HasPrefix(line, "    ") || item == "" || strings.HasPrefix(item, "#") {
				continue
			}
			calls = append(calls, expand(item)...)
		}
		if len(calls) == 0 {
			t.Fatalf("group %s expands to nothing", name)
		}
		groups[name] = calls
		return calls
	}
	for _, name := range []string{"latchkey.service", "latchkey-purge.service"} {
		u := readUnit(t, name)
		allowed := map[string]bool{}
		for i, line := range u["Service"]["SystemCallFilter"] {
			deny := strings.HasPrefix(line, "~")
			if i == 0 && deny {
				t.Fatalf("%s: the first SystemCallFilter= must be the allow list", name)
			}
			for _, item := range strings.Fields(strings.TrimPrefix(line, "~")) {
				for _, call := range expand(item) {
					allowed[call] = !deny
				}
			}
		}
		if want := name == "latchkey.service"; allowed["setpriority"] != want {
			t.Errorf("%s: setpriority allowed = %v; want %v", name, allowed["setpriority"], want)
		}
		for _, g := range []string{"@resources", "@privileged"} {
			for _, call := range expand(g) {
				if allowed[call] && call != "setpriority" {
					t.Errorf("%s: %s (from %s) is allowed", name, call, g)
				}
			}
		}
		for _, call := range []string{"read", "write", "epoll_pwait", "futex", "getpriority", "openat"} {
			if !allowed[call] {
				t.Errorf("%s: %s is not allowed", name, call)
			}
		}
	}
}

// ---- Kubernetes ----
// Mirrors of the Kubernetes API fields these manifests use; decoding is
// strict, so a field not listed here (a typo, or one the test does not know)
// fails.

type objectMeta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type typeMeta struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
}

// intOrString is a Kubernetes IntOrString: a number or a string.
type intOrString struct{ s string }

func (v *intOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{"int-or-string: not a scalar"}}
	}
	v.s = n.Value
	return nil
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type ref struct {
	Name string `yaml:"name"`
}

type keyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
		ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
	} `yaml:"valueFrom"`
}

type envFrom struct {
	ConfigMapRef *ref `yaml:"configMapRef"`
	SecretRef    *ref `yaml:"secretRef"`
}

type probe struct {
	HTTPGet *struct {
		Path   string      `yaml:"path"`
		Port   intOrString `yaml:"port"`
		Scheme string      `yaml:"scheme"`
	} `yaml:"httpGet"`
	InitialDelaySeconds int `yaml:"initialDelaySeconds"`
	PeriodSeconds       int `yaml:"periodSeconds"`
	TimeoutSeconds      int `yaml:"timeoutSeconds"`
	FailureThreshold    int `yaml:"failureThreshold"`
	SuccessThreshold    int `yaml:"successThreshold"`
}

type container struct {
	Name    string    `yaml:"name"`
	Image   string    `yaml:"image"`
	Command []string  `yaml:"command"`
	Args    []string  `yaml:"args"`
	Env     []envVar  `yaml:"env"`
	EnvFrom []envFrom `yaml:"envFrom"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	} `yaml:"ports"`
	StartupProbe   *probe `yaml:"startupProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		Capabilities             *struct {
			Drop []string `yaml:"drop"`
			Add  []string `yaml:"add"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
}

type podSpec struct {
	AutomountServiceAccountToken  *bool  `yaml:"automountServiceAccountToken"`
	EnableServiceLinks            *bool  `yaml:"enableServiceLinks"`
	TerminationGracePeriodSeconds *int   `yaml:"terminationGracePeriodSeconds"`
	RestartPolicy                 string `yaml:"restartPolicy"`
	SecurityContext               *struct {
		RunAsNonRoot   *bool  `yaml:"runAsNonRoot"`
		RunAsUser      *int64 `yaml:"runAsUser"`
		RunAsGroup     *int64 `yaml:"runAsGroup"`
		FSGroup        *int64 `yaml:"fsGroup"`
		SeccompProfile *struct {
			Type string `yaml:"type"`
		} `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	TopologySpreadConstraints []struct {
		MaxSkew           int           `yaml:"maxSkew"`
		TopologyKey       string        `yaml:"topologyKey"`
		WhenUnsatisfiable string        `yaml:"whenUnsatisfiable"`
		LabelSelector     labelSelector `yaml:"labelSelector"`
	} `yaml:"topologySpreadConstraints"`
	Containers []container `yaml:"containers"`
}

type podTemplate struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     podSpec    `yaml:"spec"`
}

type deployment struct {
	typeMeta `yaml:",inline"`
	Spec     struct {
		Replicas             int           `yaml:"replicas"`
		RevisionHistoryLimit int           `yaml:"revisionHistoryLimit"`
		Selector             labelSelector `yaml:"selector"`
		Strategy             struct {
			Type          string `yaml:"type"`
			RollingUpdate struct {
				MaxUnavailable intOrString `yaml:"maxUnavailable"`
				MaxSurge       intOrString `yaml:"maxSurge"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Template podTemplate `yaml:"template"`
	} `yaml:"spec"`
}

type service struct {
	typeMeta `yaml:",inline"`
	Spec     struct {
		Type     string            `yaml:"type"`
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string      `yaml:"name"`
			Port       int         `yaml:"port"`
			TargetPort intOrString `yaml:"targetPort"`
			Protocol   string      `yaml:"protocol"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type podDisruptionBudget struct {
	typeMeta `yaml:",inline"`
	Spec     struct {
		MaxUnavailable *intOrString  `yaml:"maxUnavailable"`
		MinAvailable   *intOrString  `yaml:"minAvailable"`
		Selector       labelSelector `yaml:"selector"`
	} `yaml:"spec"`
}

type cronJob struct {
	typeMeta `yaml:",inline"`
	Spec     struct {
		Schedule                   string `yaml:"schedule"`
		TimeZone                   string `yaml:"timeZone"`
		ConcurrencyPolicy          string `yaml:"concurrencyPolicy"`
		StartingDeadlineSeconds    int    `yaml:"startingDeadlineSeconds"`
		SuccessfulJobsHistoryLimit int    `yaml:"successfulJobsHistoryLimit"`
		FailedJobsHistoryLimit     int    `yaml:"failedJobsHistoryLimit"`
		JobTemplate                struct {
			Spec struct {
				BackoffLimit            int         `yaml:"backoffLimit"`
				ActiveDeadlineSeconds   int         `yaml:"activeDeadlineSeconds"`
				TTLSecondsAfterFinished int         `yaml:"ttlSecondsAfterFinished"`
				Template                podTemplate `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
	} `yaml:"spec"`
}

type configMap struct {
	typeMeta `yaml:",inline"`
	Data     map[string]string `yaml:"data"`
}

type secretObject struct {
	typeMeta   `yaml:",inline"`
	Type       string            `yaml:"type"`
	StringData map[string]string `yaml:"stringData"`
}

type kustomization struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Labels     []struct {
		Pairs            map[string]string `yaml:"pairs"`
		IncludeSelectors bool              `yaml:"includeSelectors"`
		IncludeTemplates bool              `yaml:"includeTemplates"`
	} `yaml:"labels"`
	Resources []string `yaml:"resources"`
	Images    []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
		Digest  string `yaml:"digest"`
	} `yaml:"images"`
}

// decode reads one manifest file: exactly one YAML document of the given
// apiVersion and kind, decoded strictly into v.
func decode(t *testing.T, file, apiVersion, kind string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("kubernetes", file))
	if err != nil {
		t.Fatal(err)
	}
	var tm struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
	}
	if err := yaml.Unmarshal(b, &tm); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if tm.APIVersion != apiVersion || tm.Kind != kind {
		t.Fatalf("%s: %s %s, want %s %s", file, tm.APIVersion, tm.Kind, apiVersion, kind)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		t.Fatalf("%s: more than one document", file)
	}
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

var cronField = regexp.MustCompile(`^(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?(,(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?)*$`)

func checkCron(t *testing.T, s string) {
	t.Helper()
	f := strings.Fields(s)
	if len(f) != 5 {
		t.Fatalf("schedule %q: want five fields", s)
	}
	max := []int{59, 23, 31, 12, 7}
	for i, x := range f {
		if !cronField.MatchString(x) {
			t.Fatalf("schedule %q: field %q", s, x)
		}
		for _, n := range regexp.MustCompile(`[0-9]+`).FindAllString(x, -1) {
			if v, _ := strconv.Atoi(n); v > max[i] && !strings.Contains(x, "/"+n) {
				t.Fatalf("schedule %q: %s out of range in field %d", s, n, i+1)
			}
		}
	}
}

// checkPod checks what every Latchkey pod needs and returns its container
// and the configuration its environment loads to.
func checkPod(t *testing.T, what string, pt podTemplate, known map[string]bool, cm configMap, sec secretObject) (container, config.Config) {
	t.Helper()
	ps := pt.Spec
	if sc := ps.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("%s: pod securityContext must run as a non-root uid with the RuntimeDefault seccomp profile", what)
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken: false (Latchkey never calls the Kubernetes API)", what)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%s: want one container", what)
	}
	c := ps.Containers[0]
	if c.Image == "" || c.Name == "" || len(c.Command) != 0 || len(c.Args) != 1 {
		t.Errorf("%s: container %q image %q command %q args %q: want the image's entrypoint with one subcommand", what, c.Name, c.Image, c.Command, c.Args)
	}
	if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("%s: container securityContext: no privilege escalation, read-only root filesystem, drop ALL", what)
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("%s: resources: want cpu and memory requests and a memory limit", what)
	}
	// The environment the process gets: envFrom the ConfigMap and the
	// Secret, then env. Every variable is a setting, and together they load.
	env := map[string]string{}
	var fromCM, fromSecret bool
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == cm.Metadata.Name:
			fromCM = true
			for k, v := range cm.Data {
				env[k] = v
			}
		case ef.SecretRef != nil && ef.SecretRef.Name == sec.Metadata.Name:
			fromSecret = true
			for k := range sec.StringData {
				env[k] = "x"
			}
		default:
			t.Errorf("%s: envFrom %+v names neither the ConfigMap nor the Secret", what, ef)
		}
	}
	if !fromCM || !fromSecret {
		t.Errorf("%s: want envFrom the ConfigMap %q and the Secret %q", what, cm.Metadata.Name, sec.Metadata.Name)
	}
	for _, e := range c.Env {
		if !known[e.Name] {
			t.Errorf("%s: env %s is not a Latchkey setting", what, e.Name)
		}
		if e.ValueFrom != nil {
			t.Errorf("%s: env %s: valueFrom is not expected here (secrets come from the Secret via envFrom)", what, e.Name)
		}
		env[e.Name] = e.Value
	}
	env["DATABASE_URL"] = sec.StringData["DATABASE_URL"]
	env["REFRESH_TOKEN_SECRET"] = secret()
	cfg := load(t, what, env)
	if !strings.HasPrefix(cfg.DatabaseURL, "postgres://") {
		t.Errorf("%s: several replicas need PostgreSQL, DATABASE_URL is %s", what, cfg.DatabaseURL)
	}
	checkImage(t, what, c.Image)
	return c, cfg
}

// imageRepository is the one image name of every deployment file (the
// builder's, internal/tools/image).
const imageRepository = "ghcr.io/latchkey-dev/latchkey"

var imageRef = regexp.MustCompile(`^` + regexp.QuoteMeta(imageRepository) + `(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$`)

// checkImage: the image is Latchkey's, pinned by a tag or a digest, not latest.
func checkImage(t *testing.T, what, image string) {
	t.Helper()
	if !imageRef.MatchString(image) || strings.HasSuffix(image, ":latest") {
		t.Errorf("%s: image %q: want %s:<release> or @sha256:<digest>, not latest", what, image, imageRepository)
	}
}

// mebibytes reads a Kubernetes memory quantity in Mi or Gi.
func mebibytes(t *testing.T, q string) int {
	t.Helper()
	for suffix, f := range map[string]int{"Mi": 1, "Gi": 1024} {
		if n, ok := strings.CutSuffix(q, suffix); ok {
			if v, err := strconv.Atoi(n); err == nil {
				return v * f
			}
		}
	}
	t.Fatalf("memory quantity %q: want <n>Mi or <n>Gi", q)
	return 0
}

// peakMiB is the resident memory of a replica under a sign-in flood with
// hashes argon2id hashes in flight, as docs/configuration.md gives it
// ("Sizing memory for sign-in floods"): about 50 MiB + 42 MiB per hash slot.
func peakMiB(hashes int) int { return 50 + 42*hashes }

func TestKubernetesManifests(t *testing.T) {
	known := settings(t)

	var k kustomization
	decode(t, "kustomization.yaml", "kustomize.config.k8s.io/v1beta1", "Kustomization", &k)
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" && b != "secret.example.yaml" {
			want = append(want, b)
		}
	}
	got := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(got, want) {
		t.Errorf("kustomization resources %v, want every manifest but the secret example: %v", got, want)
	}

	var cm configMap
	decode(t, "configmap.yaml", "v1", "ConfigMap", &cm)
	for key := range cm.Data {
		if !known[key] {
			t.Errorf("ConfigMap key %s is not a Latchkey setting", key)
		}
	}
	if cm.Data["APP_ENV"] != "production" || cm.Data["PUBLIC_URL"] == "" {
		t.Errorf("ConfigMap: want APP_ENV=production and PUBLIC_URL (the issuer every replica shares)")
	}

	var sec secretObject
	decode(t, "secret.example.yaml", "v1", "Secret", &sec)
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range sec.StringData {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(got, []string{"DATABASE_URL", "REFRESH_TOKEN_SECRET"}) {
		t.Errorf("Secret keys %v", got)
	}
	for key := range sec.StringData {
		if !known[key] {
			t.Errorf("Secret key %s is not a Latchkey setting", key)
		}
	}

	var d deployment
	decode(t, "deployment.yaml", "apps/v1", "Deployment", &d)
	if d.Spec.Replicas < 2 {
		t.Errorf("Deployment: %d replicas", d.Spec.Replicas)
	}
	podLabels := d.Spec.Template.Metadata.Labels
	if !subset(d.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("Deployment selector %v does not match the pod labels %v", d.Spec.Selector.MatchLabels, podLabels)
	}
	c, cfg := checkPod(t, "Deployment", d.Spec.Template, known, cm, sec)
	if !slices.Equal(c.Args, []string{"serve"}) {
		t.Errorf("Deployment args %q, want [serve]", c.Args)
	}
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if len(ports) != 2 || ports["http"] == 0 || ports["metrics"] == 0 {
		t.Fatalf("Deployment: want the container ports http and metrics, got %+v", c.Ports)
	}
	if _, p, err := net.SplitHostPort(cfg.HTTPAddr); err != nil || p != strconv.Itoa(ports["http"]) {
		t.Errorf("HTTP_ADDR %q does not listen on the http containerPort %d", cfg.HTTPAddr, ports["http"])
	}
	// /metrics off the Service's port: on METRICS_ADDR, the metrics port.
	if _, p, err := net.SplitHostPort(cfg.MetricsAddr); err != nil || p != strconv.Itoa(ports["metrics"]) {
		t.Errorf("METRICS_ADDR %q does not listen on the metrics containerPort %d", cfg.MetricsAddr, ports["metrics"])
	}
	probes := map[string]*probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
	wantPath := map[string]string{"startup": "/healthz", "liveness": "/healthz", "readiness": "/readyz"}
	for name, p := range probes {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("Deployment: no %s probe", name)
			continue
		}
		if p.HTTPGet.Path != wantPath[name] {
			t.Errorf("%s probe path %s, want %s", name, p.HTTPGet.Path, wantPath[name])
		}
		if p.HTTPGet.Port.s != "http" && p.HTTPGet.Port.s != strconv.Itoa(ports["http"]) {
			t.Errorf("%s probe port %s is not the http port", name, p.HTTPGet.Port.s)
		}
	}
	// Stopping: readiness fails at once, and the drain outlasts the probes
	// noticing (periodSeconds x failureThreshold); the grace period outlasts
	// the drain plus the wait for requests in flight.
	if rp := c.ReadinessProbe; rp != nil {
		noticed := time.Duration(max(rp.PeriodSeconds, 1)*max(rp.FailureThreshold, 1)) * time.Second
		if cfg.ShutdownDrainDelay.D() < noticed {
			t.Errorf("SHUTDOWN_DRAIN_DELAY %s is shorter than the readiness probe takes to notice (%s)", cfg.ShutdownDrainDelay, noticed)
		}
	}
	stop := cfg.ShutdownDrainDelay.D() + cfg.ShutdownTimeout.D()
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= stop {
		t.Errorf("terminationGracePeriodSeconds must exceed SHUTDOWN_DRAIN_DELAY + SHUTDOWN_TIMEOUT (%s)", stop)
	}
	// Memory: the limit holds a sign-in flood at the hash concurrency the
	// pod will have. With no CPU limit, the default follows the node's CPUs,
	// which the manifest cannot know: it must set the concurrency then.
	hashes := cfg.PasswordHashConcurrency
	if hashes == 0 {
		cpu, ok := c.Resources.Limits["cpu"]
		if !ok {
			t.Fatalf("Deployment: neither PASSWORD_HASH_CONCURRENCY nor a CPU limit: a node with many CPUs runs many hashes")
		}
		n, err := strconv.ParseFloat(strings.TrimSuffix(cpu, "m"), 64)
		if err != nil {
			t.Fatalf("cpu limit %q", cpu)
		}
		if strings.HasSuffix(cpu, "m") {
			n /= 1000
		}
		hashes = config.HashConcurrencyFor(max(2, int(math.Ceil(n)))) // Go's GOMAXPROCS under a CPU limit
	}
	if limit, need := mebibytes(t, c.Resources.Limits["memory"]), peakMiB(hashes); limit < need+need/4 {
		t.Errorf("memory limit %dMi for %d hashes: a sign-in flood peaks near %dMi; want 25%% above it", limit, hashes, need)
	}

	var s service
	decode(t, "service.yaml", "v1", "Service", &s)
	if !subset(s.Spec.Selector, podLabels) {
		t.Errorf("Service selector %v does not match the pod labels %v", s.Spec.Selector, podLabels)
	}
	if len(s.Spec.Ports) != 1 || (s.Spec.Ports[0].TargetPort.s != "http" && s.Spec.Ports[0].TargetPort.s != strconv.Itoa(ports["http"])) {
		t.Errorf("Service ports %+v: want one, targeting the http port (not metrics)", s.Spec.Ports)
	}

	var pdb podDisruptionBudget
	decode(t, "poddisruptionbudget.yaml", "policy/v1", "PodDisruptionBudget", &pdb)
	if !subset(pdb.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("PodDisruptionBudget selector does not match the pod labels")
	}
	if (pdb.Spec.MaxUnavailable == nil) == (pdb.Spec.MinAvailable == nil) {
		t.Errorf("PodDisruptionBudget: want exactly one of maxUnavailable and minAvailable")
	} else if pdb.Spec.MaxUnavailable != nil {
		if n, err := strconv.Atoi(pdb.Spec.MaxUnavailable.s); err != nil || n < 1 || n >= d.Spec.Replicas {
			t.Errorf("PodDisruptionBudget maxUnavailable %s with %d replicas", pdb.Spec.MaxUnavailable.s, d.Spec.Replicas)
		}
	}

	var cj cronJob
	decode(t, "cronjob.yaml", "batch/v1", "CronJob", &cj)
	checkCron(t, cj.Spec.Schedule)
	if cj.Spec.ConcurrencyPolicy != "Forbid" {
		t.Errorf("CronJob concurrencyPolicy %s, want Forbid", cj.Spec.ConcurrencyPolicy)
	}
	jt := cj.Spec.JobTemplate.Spec.Template
	if subset(d.Spec.Selector.MatchLabels, jt.Metadata.Labels) {
		t.Errorf("the purge pods' labels %v match the Deployment's selector: the Service and PDB would count them", jt.Metadata.Labels)
	}
	if r := jt.Spec.RestartPolicy; r != "OnFailure" && r != "Never" {
		t.Errorf("CronJob restartPolicy %q", r)
	}
	pc, _ := checkPod(t, "CronJob", jt, known, cm, sec)
	if !slices.Equal(pc.Args, []string{"purge"}) {
		t.Errorf("CronJob args %q, want [purge]", pc.Args)
	}
	if pc.Image != c.Image {
		t.Errorf("CronJob image %s differs from the Deployment's %s", pc.Image, c.Image)
	}
	if len(k.Images) != 1 || k.Images[0].Name != imageRepository || (k.Images[0].NewTag == "") == (k.Images[0].Digest == "") {
		t.Errorf("kustomization images %+v: want %s with a newTag or a digest", k.Images, imageRepository)
	} else if img := k.Images[0]; img.NewTag == "latest" || (img.NewTag != "" && c.Image != img.Name+":"+img.NewTag) {
		t.Errorf("kustomization pins %s:%s, the manifests say %s: keep them one reference (not latest)", img.Name, img.NewTag, c.Image)
	}
}

func TestCronCheck(t *testing.T) {
	for _, s := range []string{"17 * * * *", "*/15 * * * *", "0 3 * * 1-5", "0,30 8-18 * * *"} {
		checkCron(t, s)
	}
}

// kustomizeBuild renders kubernetes/ with kustomize (a kustomize binary on
// PATH or in $(go env GOPATH)/bin, as .ci/kustomize.sh installs it, else
// `kubectl kustomize`).
func kustomizeBuild(t *testing.T) []byte {
	t.Helper()
	var tries [][]string
	if p, err := exec.LookPath("kustomize"); err == nil {
		tries = append(tries, []string{p, "build", "kubernetes"})
	}
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "kustomize")
		if _, err := os.Stat(p); err == nil {
			tries = append(tries, []string{p, "build", "kubernetes"})
		}
	}
	if p, err := exec.LookPath("kubectl"); err == nil {
		tries = append(tries, []string{p, "kustomize", "kubernetes"})
	}
	var errs []string
	for _, argv := range tries {
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err == nil {
			return out
		}
		errs = append(errs, fmt.Sprintf("%s: %v", strings.Join(argv, " "), err))
	}
	why := "no kustomize (install: .ci/kustomize.sh): the rendered manifests were not checked"
	if len(errs) > 0 {
		why = "kustomize failed: " + strings.Join(errs, "; ")
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
	return nil
}

// The manifests as kustomize renders them, which is what `kubectl apply -k`
// sends: the five objects, each decoding strictly, each labelled part-of
// latchkey; both pods on the one pinned image the kustomization names; the
// Deployment as the source files checked above.
func TestKubernetesRendered(t *testing.T) {
	out := kustomizeBuild(t)
	var k kustomization
	decode(t, "kustomization.yaml", "kustomize.config.k8s.io/v1beta1", "Kustomization", &k)
	want := imageRepository + ":" + k.Images[0].NewTag
	if k.Images[0].Digest != "" {
		want = imageRepository + "@" + k.Images[0].Digest
	}
	kinds := map[string]int{}
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var node yaml.Node
		if err := dec.Decode(&node); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("rendered: %v", err)
		}
		var tm typeMeta
		if err := node.Decode(&tm); err != nil {
			t.Fatal(err)
		}
		kinds[tm.Kind]++
		if tm.Metadata.Labels["app.kubernetes.io/part-of"] != "latchkey" {
			t.Errorf("rendered %s %s: no app.kubernetes.io/part-of=latchkey label", tm.Kind, tm.Metadata.Name)
		}
		strict := func(v any) {
			b, err := yaml.Marshal(&node)
			if err != nil {
				t.Fatal(err)
			}
			d := yaml.NewDecoder(bytes.NewReader(b))
			d.KnownFields(true)
			if err := d.Decode(v); err != nil {
				t.Errorf("rendered %s: %v", tm.Kind, err)
			}
		}
		var images []string
		switch tm.Kind {
		case "Deployment":
			var d deployment
			strict(&d)
			for _, c := range d.Spec.Template.Spec.Containers {
				images = append(images, c.Image)
			}
		case "CronJob":
			var cj cronJob
			strict(&cj)
			for _, c := range cj.Spec.JobTemplate.Spec.Template.Spec.Containers {
				images = append(images, c.Image)
			}
		case "Service":
			strict(&service{})
		case "ConfigMap":
			strict(&configMap{})
		case "PodDisruptionBudget":
			strict(&podDisruptionBudget{})
		default:
			t.Errorf("rendered: unexpected %s", tm.Kind)
		}
		for _, img := range images {
			if img != want {
				t.Errorf("rendered %s image %s; the kustomization pins %s", tm.Kind, img, want)
			}
			checkImage(t, "rendered "+tm.Kind, img)
		}
	}
	if len(kinds) != 5 {
		t.Errorf("rendered kinds %v; want ConfigMap, Service, Deployment, CronJob, PodDisruptionBudget", kinds)
	}
}

// One image reference everywhere: every mention of a ghcr.io image in the
// deployment files, the guides, the README and the builder is Latchkey's,
// with a tag that is not latest (the CDK tests, which feed it latest to see
// it refused, are left out).
func TestOneImageReference(t *testing.T) {
	ref := regexp.MustCompile(`ghcr\.io/[A-Za-z0-9._/-]+(:[A-Za-z0-9_.${}-]+|@sha256:[0-9a-f…]+)?`)
	files := []string{"../README.md", "../Dockerfile", "../internal/tools/image/spec.go", "../internal/tools/image/main.go"}
	for _, glob := range []string{"../docs/*.md", "kubernetes/*.yaml", "systemd/*", "aws-cdk/*.md", "aws-cdk/*.json", "aws-cdk/bin/*.ts", "aws-cdk/lib/*.ts"} {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			seen++
			name := strings.TrimSuffix(strings.TrimSuffix(m[0], m[1]), ".")
			if name != imageRepository {
				t.Errorf("%s: image %s; the one image is %s", f, m[0], imageRepository)
			}
			if m[1] == ":latest" {
				t.Errorf("%s: %s: pin a release, not latest", f, m[0])
			}
		}
	}
	if seen < 5 {
		t.Errorf("only %d image references found: the scan is broken", seen)
	}
}
