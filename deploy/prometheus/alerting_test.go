package prometheus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
	"github.com/latchkey-dev/latchkey/internal/testkit"
)

// Bounds of the real-Prometheus test; every wait is bounded by one of them.
const (
	promStartTimeout = 30 * time.Second // from exec to /-/ready
	promWarmUp       = 30 * time.Second // until the target has been scraped warmScrapes times
	alertTimeout     = 60 * time.Second // from the traffic to the alerts being active
	promStopTimeout  = 10 * time.Second // from SIGTERM to exit, then SIGKILL
	warmScrapes      = 5
	quietEvaluations = 3 // evaluations (one a second) after the alerts in which no other may appear
)

// TestAlertsFireInPrometheus loads the rule files into a real Prometheus
// (scraping and evaluating every second) that scrapes a real `latchkey
// serve` on loopback, and drives traffic at the server:
//
//   - 10 refresh-token reuses (sign in, rotate, present the first token
//     again, with REFRESH_TOKEN_REUSE_INTERVAL=0): LatchkeyRefreshTokenReuse
//     must become active, and not the critical LatchkeyRefreshTokenReuseBurst
//     (10 in five minutes is under its three a minute);
//   - 60 refreshes with tokens that are not ours, among about 40 good ones:
//     LatchkeyRefreshFailures must become active for refresh_token_invalid;
//   - wrong passwords and unknown paths (4xx), which must fire nothing.
//
// It waits until both alerts are pending or firing (their for: durations
// are longer than the test may take), then checks that no other alert is
// active and that every rule evaluated without error against the real
// series.
func TestAlertsFireInPrometheus(t *testing.T) {
	bin := tool(t, "prometheus")
	srv := e2etest.StartServer(t, map[string]string{"REFRESH_TOKEN_REUSE_INTERVAL": "0", "LOG_LEVEL": "warn"})
	target := strings.TrimPrefix(srv.URL, "http://")
	prom := startPrometheus(t, bin, target)

	prom.waitScrapes(t, warmScrapes)
	wantLoaded(t, prom, loadRules(t))

	c := newClient(srv.URL)
	c.mustPost(t, "/auth/sign-up", creds("ops@example.com"), 201)
	// Good refreshes: one session rotated twenty times.
	rt := c.signIn(t, "ops@example.com")
	for range 20 {
		rt = c.mustPost(t, "/token", map[string]string{"refreshToken": rt}, 200)["refreshToken"].(string)
	}
	// Traffic that must fire nothing: wrong passwords, unknown paths.
	for range 10 {
		c.mustPost(t, "/auth/sign-in", map[string]string{"email": "ops@example.com", "password": "wrong"}, 401)
		c.mustPost(t, "/no/such/route", map[string]string{}, 404)
	}
	// Reuse: each superseded token, presented again, revokes its session.
	const reuses = 10
	for range reuses {
		first := c.signIn(t, "ops@example.com")
		c.mustPost(t, "/token", map[string]string{"refreshToken": first}, 200)
		if m := c.mustPost(t, "/token", map[string]string{"refreshToken": first}, 400); m["error"] != "refresh_token_reused" {
			t.Fatalf("second use of a rotated token: %v, want refresh_token_reused", m)
		}
	}
	// Failures: refresh tokens that are not ours.
	const invalid = 60
	for i := range invalid {
		m := c.mustPost(t, "/token", map[string]string{"refreshToken": fmt.Sprintf("forged.token.%d", i)}, 400)
		if m["error"] != "refresh_token_invalid" {
			t.Fatalf("forged refresh token: %v, want refresh_token_invalid", m)
		}
	}
	exposed := c.get(t, "/metrics")
	for _, line := range []string{
		"latchkey_refresh_reuse_detected_total " + strconv.Itoa(reuses),
		`latchkey_refreshes_total{outcome="refresh_token_invalid"} ` + strconv.Itoa(invalid),
	} {
		if !slices.Contains(strings.Split(exposed, "\n"), line) {
			t.Fatalf("/metrics has no line %q after the traffic", line)
		}
	}

	want := map[string]map[string]string{
		"LatchkeyRefreshTokenReuse": {"severity": "warning", "job": "latchkey"},
		"LatchkeyRefreshFailures":   {"severity": "warning", "job": "latchkey", "outcome": "refresh_token_invalid"},
	}
	start := time.Now()
	active := prom.waitAlerts(t, want)
	t.Logf("active %s after the traffic: %s", time.Since(start).Round(100*time.Millisecond), describe(active))
	// Nothing else may become active, in this evaluation or the next few.
	for evaluated := prom.lastEvaluation(t); ; {
		for _, a := range active {
			if _, ok := want[a.Labels["alertname"]]; !ok {
				t.Fatalf("unexpected alert %s (%s): %s", a.Labels["alertname"], a.State, a.Annotations["summary"])
			}
		}
		if prom.lastEvaluation(t).Sub(evaluated) >= quietEvaluations*time.Second {
			break
		}
		time.Sleep(250 * time.Millisecond) // polling interval
		active = prom.alerts(t)
	}
	for _, r := range prom.rules(t) {
		if r.Health != "ok" || r.LastError != "" {
			t.Errorf("rule %s: health %q, error %q", r.Name, r.Health, r.LastError)
		}
	}
}

// wantLoaded checks that Prometheus loaded every rule of the files.
func wantLoaded(t *testing.T, p *promProc, rules []rule) {
	t.Helper()
	loaded := map[string]bool{}
	for _, r := range p.rules(t) {
		loaded[r.Name] = true
	}
	for name := range ruleExprs(rules) {
		if !loaded[name] {
			t.Fatalf("Prometheus did not load rule %s", name)
		}
	}
}

// promProc is a running Prometheus.
type promProc struct {
	url  string
	cmd  *exec.Cmd
	out  *testkit.Buffer
	done chan struct{}
	hc   *http.Client
}

// startPrometheus writes a configuration that scrapes target every second
// and evaluates the rule files every second, starts Prometheus on a free
// loopback port with its data in a temporary directory, and waits until it
// is ready. It is stopped (SIGTERM, then SIGKILL) when the test ends.
func startPrometheus(t *testing.T, bin, target string) *promProc {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for _, f := range ruleFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, strconv.Quote(abs))
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%s]
scrape_configs:
  - job_name: latchkey
    static_configs:
      - targets: [%q]
`, strings.Join(files, ", "), target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		p, err := launchPrometheus(t, bin, cfgPath, filepath.Join(dir, fmt.Sprintf("data%d", attempt)))
		if err == nil {
			return p
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			t.Fatal(err)
		}
	}
}

var errPortTaken = errors.New("the chosen port was taken before Prometheus bound it")

func launchPrometheus(t *testing.T, bin, cfgPath, dataDir string) (*promProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &promProc{url: "http://" + addr, out: &testkit.Buffer{}, done: make(chan struct{}), hc: &http.Client{Timeout: 5 * time.Second}}
	p.cmd = exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+dataDir,
		"--web.listen-address="+addr, "--log.level=warn")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", p.out.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), promStartTimeout)
	defer cancel()
	for {
		if resp, err := p.hc.Get(p.url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.done:
			if strings.Contains(p.out.String(), "address already in use") {
				return nil, errPortTaken
			}
			return nil, fmt.Errorf("prometheus exited before it was ready:\n%s", p.out.String())
		case <-ctx.Done():
			return nil, fmt.Errorf("prometheus not ready within %s:\n%s", promStartTimeout, p.out.String())
		case <-time.After(100 * time.Millisecond): // polling interval
		}
	}
}

// stop ends the Prometheus this test started, by its PID.
func (p *promProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(promStopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// api GETs a Prometheus HTTP API path and decodes its data field into v.
func (p *promProc) api(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := p.hc.Get(p.url + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env.Status != "success" {
		t.Fatalf("GET %s: %d %v %s", path, resp.StatusCode, err, env.Error)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// waitScrapes waits until Prometheus has scraped the target n times, so
// that rates over the traffic are not extrapolated from one or two samples.
func (p *promProc) waitScrapes(t *testing.T, n int) {
	t.Helper()
	q := "/api/v1/query?query=" + url.QueryEscape(`sum_over_time(up{job="latchkey"}[1m])`)
	deadline := time.Now().Add(promWarmUp)
	for {
		var res struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		}
		p.api(t, q, &res)
		if len(res.Result) == 1 {
			if s, _ := res.Result[0].Value[1].(string); s != "" {
				if f, err := strconv.ParseFloat(s, 64); err == nil && f >= float64(n) {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target was not scraped up %d times within %s: %v", n, promWarmUp, res.Result)
		}
		time.Sleep(250 * time.Millisecond) // polling interval
	}
}

// lastEvaluation returns when the alert group was last evaluated.
func (p *promProc) lastEvaluation(t *testing.T) time.Time {
	t.Helper()
	var data struct {
		Groups []struct {
			Name           string    `json:"name"`
			LastEvaluation time.Time `json:"lastEvaluation"`
		} `json:"groups"`
	}
	p.api(t, "/api/v1/rules", &data)
	for _, g := range data.Groups {
		if g.Name == "latchkey-alerts" {
			return g.LastEvaluation
		}
	}
	t.Fatal("Prometheus has no group latchkey-alerts")
	return time.Time{}
}

func (p *promProc) alerts(t *testing.T) []promAlert {
	t.Helper()
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	p.api(t, "/api/v1/alerts", &data)
	return data.Alerts
}

type promRule struct {
	Name      string `json:"name"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
}

func (p *promProc) rules(t *testing.T) []promRule {
	t.Helper()
	var data struct {
		Groups []struct {
			Rules []promRule `json:"rules"`
		} `json:"groups"`
	}
	p.api(t, "/api/v1/rules", &data)
	var out []promRule
	for _, g := range data.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	Value       string            `json:"value"`
}

// waitAlerts polls the alerts until every alert of want is pending or
// firing with (at least) the given labels, and returns the active alerts.
func (p *promProc) waitAlerts(t *testing.T, want map[string]map[string]string) []promAlert {
	t.Helper()
	deadline := time.Now().Add(alertTimeout)
	for {
		active := p.alerts(t)
		found := 0
		for name, labels := range want {
			if slices.ContainsFunc(active, func(a promAlert) bool { return matches(a, name, labels) }) {
				found++
			}
		}
		if found == len(want) {
			return active
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, active alerts: %s; want %v", alertTimeout, describe(active), want)
		}
		time.Sleep(250 * time.Millisecond) // polling interval
	}
}

func matches(a promAlert, name string, labels map[string]string) bool {
	if a.Labels["alertname"] != name || (a.State != "pending" && a.State != "firing") {
		return false
	}
	for k, v := range labels {
		if a.Labels[k] != v {
			return false
		}
	}
	return true
}

func describe(as []promAlert) string {
	if len(as) == 0 {
		return "none"
	}
	var parts []string
	for _, a := range as {
		parts = append(parts, fmt.Sprintf("%s{outcome=%q} %s value %s (%s)", a.Labels["alertname"], a.Labels["outcome"],
			a.State, a.Value, a.Annotations["summary"]))
	}
	return strings.Join(parts, "; ")
}
