// Package prometheus holds Latchkey's Prometheus rules (alerts.rules.yml,
// recording.rules.yml) and their tests, which also cover the Grafana
// dashboard in ../grafana. docs/operations.md is the runbook.
//
//   - rules_test.go: promtool check rules and promtool test rules
//     (alerts.test.yml: for each alert, series that fire it and series that
//     must not), and the shape every alert keeps (severity, for, summary,
//     description, a runbook_url whose anchor is a heading of the runbook).
//   - names_test.go: every metric the rules and the dashboard use is in
//     /metrics of a running `latchkey serve`, every recorded series they use
//     is recorded, and every recording rule is used.
//   - alerting_test.go: a real Prometheus scrapes a real `latchkey serve`
//     on loopback with these rules loaded; traffic fires the reuse and the
//     refresh-failure alerts, and nothing else.
//
// promtool and prometheus come with Debian's prometheus package
// (.ci/prometheus.sh installs it). Tests that need them skip with one line
// when they are missing, except under CI=true, where they fail.
package prometheus

import (
	"os"
	"os/exec"
	"testing"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

func TestMain(m *testing.M) { os.Exit(e2etest.Run(m)) }

// tool returns the path of an external program, skipping the test when it
// is not installed (failing it under CI=true).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed: it cannot be skipped in CI (.ci/prometheus.sh installs it)", name)
		}
		t.Skipf("%s is not installed (apt-get install prometheus): skipping", name)
	}
	return p
}
