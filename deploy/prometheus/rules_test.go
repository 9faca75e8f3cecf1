package prometheus

import (
	"bufio"
	"cmp"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	yaml "github.com/oasdiff/yaml3"
)

// The rule files, and the promtool unit tests of both.
var (
	ruleFiles = []string{"recording.rules.yml", "alerts.rules.yml"}
	unitTests = "alerts.test.yml"
	runbook   = filepath.Join("..", "..", "docs", "operations.md")
)

// runbookURL is where an alert's runbook_url points, before the anchor.
const runbookURL = "https://github.com/latchkey-dev/latchkey/blob/main/docs/operations.md"

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// loadRules reads the rules of every rule file, strictly (an unknown key is
// an error, as it is to Prometheus).
func loadRules(t *testing.T) []rule {
	t.Helper()
	var all []rule
	for _, name := range ruleFiles {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Groups []struct {
				Name     string `yaml:"name"`
				Interval string `yaml:"interval"`
				Rules    []rule `yaml:"rules"`
			} `yaml:"groups"`
		}
		dec := yaml.NewDecoder(f)
		dec.KnownFields(true)
		err = dec.Decode(&doc)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, g := range doc.Groups {
			all = append(all, g.Rules...)
		}
	}
	return all
}

func alerts(rules []rule) []rule {
	var out []rule
	for _, r := range rules {
		if r.Alert != "" {
			out = append(out, r)
		}
	}
	return out
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := tool(t, "promtool")
	out, err := exec.Command(promtool, append([]string{"check", "rules"}, ruleFiles...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// TestPromtoolTestRules runs the unit tests of alerts.test.yml, after
// checking that they hold, for every alert, a case where it fires and a
// case where it must not.
func TestPromtoolTestRules(t *testing.T) {
	b, err := os.ReadFile(unitTests)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests []struct {
			Name      string `yaml:"name"`
			AlertTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", unitTests, err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range doc.Tests {
		for _, at := range tc.AlertTest {
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname] = true
			} else {
				quiet[at.Alertname] = true
			}
		}
	}
	for _, a := range alerts(loadRules(t)) {
		if !fires[a.Alert] || !quiet[a.Alert] {
			t.Errorf("%s: %s has a case where it fires: %v, a case where it must not: %v; want both",
				unitTests, a.Alert, fires[a.Alert], quiet[a.Alert])
		}
	}

	promtool := tool(t, "promtool")
	out, err := exec.Command(promtool, "test", "rules", unitTests).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules %s: %v\n%s", unitTests, err, out)
	}
}

// TestAlertsShape: every alert says how bad it is, waits before it fires,
// says what to do, and links to a runbook section that exists.
func TestAlertsShape(t *testing.T) {
	headings := runbookHeadings(t)
	as := alerts(loadRules(t))
	if len(as) < 7 {
		t.Fatalf("%d alerts; the rule files look wrong", len(as))
	}
	seen := map[string]bool{}
	for _, a := range as {
		if seen[a.Alert] {
			t.Errorf("%s: two alerts of this name", a.Alert)
		}
		seen[a.Alert] = true
		if s := a.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", a.Alert, s)
		}
		if d, err := time.ParseDuration(a.For); err != nil || d < time.Minute {
			t.Errorf("%s: for %q, want a duration of at least a minute", a.Alert, a.For)
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(a.Annotations[k]) == "" {
				t.Errorf("%s: no %s annotation", a.Alert, k)
			}
		}
		if len(a.Annotations) != 3 {
			t.Errorf("%s: annotations %v, want summary, description and runbook_url", a.Alert, a.Annotations)
		}
		if want := runbookURL + "#" + strings.ToLower(a.Alert); a.Annotations["runbook_url"] != want {
			t.Errorf("%s: runbook_url %q, want %q", a.Alert, a.Annotations["runbook_url"], want)
		}
		if !headings[a.Alert] {
			t.Errorf("%s: no section \"### %s\" in %s", a.Alert, a.Alert, runbook)
		}
	}
}

// runbookHeadings returns the level-3 headings of docs/operations.md.
func runbookHeadings(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(runbook)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if h, ok := strings.CutPrefix(sc.Text(), "### "); ok {
			out[strings.TrimSpace(h)] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// ruleExprs returns the expressions of the rules, by rule name.
func ruleExprs(rules []rule) map[string]string {
	out := map[string]string{}
	for _, r := range rules {
		out[cmp.Or(r.Alert, r.Record)] = r.Expr
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
