package prometheus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

var dashboardFile = filepath.Join("..", "grafana", "latchkey.json")

// prometheusOwn are series Prometheus makes itself, not the binary.
var prometheusOwn = map[string]bool{"up": true}

// dashboard is the part of the Grafana dashboard model the tests read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// exprs returns every PromQL query of the dashboard, by where it is.
func (d dashboard) exprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out[fmt.Sprintf("panel %q query %s", p.Title, tg.RefID)] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Fatalf("variable %s: query is neither an object nor a string: %s", v.Name, v.Query)
			}
		}
		out["variable "+v.Name] = q.Query
		if v.Definition != q.Query {
			t.Errorf("variable %s: definition %q and query %q differ", v.Name, v.Definition, q.Query)
		}
	}
	return out
}

// TestDashboardShape: the dashboard is one Grafana model whose panels all
// query the chosen Prometheus data source and do not overlap.
func TestDashboardShape(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: want both", d.UID, d.Title)
	}
	ids := map[int]bool{}
	var cells = map[[2]int]string{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					t.Errorf("panels %q and %q overlap at (%d, %d)", other, p.Title, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no queries", p.Title)
		}
		for _, ds := range append([]*datasource{p.Datasource}, func() (out []*datasource) {
			for _, tg := range p.Targets {
				out = append(out, tg.Datasource)
			}
			return
		}()...) {
			if ds == nil || ds.Type != "prometheus" || ds.UID != "${datasource}" {
				t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, ds)
			}
		}
	}
}

// TestEveryMetricUsedIsExported: each metric the rules and the dashboard
// select is in /metrics of a running `latchkey serve` (so renaming a metric
// fails here, not in an operator's night), each recorded series they use is
// recorded by recording.rules.yml, and each recording rule is used.
func TestEveryMetricUsedIsExported(t *testing.T) {
	rules := loadRules(t)
	uses := map[string]string{} // where -> expression
	for name, expr := range ruleExprs(rules) {
		uses["rule "+name] = expr
	}
	for where, expr := range loadDashboard(t).exprs(t) {
		uses[where] = expr
	}
	recorded := map[string]bool{}
	for _, r := range rules {
		if r.Record != "" {
			recorded[r.Record] = true
		}
	}

	exported := exportedNames(t)
	used := map[string]bool{}
	for _, where := range sortedKeys(uses) {
		names, err := metricNames(uses[where])
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s: selects no metric: %q", where, uses[where])
		}
		for _, n := range names {
			used[n] = true
			switch {
			case strings.Contains(n, ":"):
				if !recorded[n] {
					t.Errorf("%s: %s is not recorded by %s", where, n, ruleFiles[0])
				}
			case prometheusOwn[n]:
			case !exported[n]:
				t.Errorf("%s: %s is not in /metrics of latchkey serve", where, n)
			}
		}
	}
	for r := range recorded {
		if !used[r] {
			t.Errorf("recording rule %s is used by no alert, recording rule or dashboard panel", r)
		}
	}
	t.Logf("%d distinct series names used by %d rules and queries; %d exported by the server", len(used), len(uses), len(exported))
}

// exportedNames starts `latchkey serve`, sends it the requests that create
// the labelled series (sign-up, sign-in, refresh, a failed sign-in), and
// returns the sample names of its /metrics.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	p := e2etest.StartServer(t, map[string]string{"LOG_LEVEL": "warn"})
	c := newClient(p.URL)
	c.mustPost(t, "/auth/sign-up", creds("names@example.com"), 201)
	rt := c.signIn(t, "names@example.com")
	c.mustPost(t, "/token", map[string]string{"refreshToken": rt}, 200)
	c.mustPost(t, "/auth/sign-in", map[string]string{"email": "names@example.com", "password": "wrong password"}, 401)
	// A receiver of the revocation feed with a poll stream: the feed's lag
	// is exported per enabled stream.
	cred := strings.TrimSpace(e2etest.RunCLI(t, map[string]string{"DATABASE_URL": p.Env["DATABASE_URL"], "LOG_LEVEL": "error"},
		"ssf", "receiver", "create", "names-api"))
	rc := *c
	rc.bearer = cred
	rc.mustPost(t, "/ssf/stream", map[string]any{"events_requested": []string{
		"https://schemas.openid.net/secevent/caep/event-type/session-revoked"}}, 201)

	body := c.get(t, "/metrics")
	out := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		out[name] = true
	}
	return out
}

// client talks JSON to a latchkey serve, failing the test on a transport
// error.
type client struct {
	base   string
	hc     *http.Client
	bearer string // sent as Authorization: Bearer, when set
}

func newClient(base string) *client {
	return &client{base: base, hc: &http.Client{Timeout: 10 * time.Second}}
}

const password = "correct horse battery staple"

func creds(email string) map[string]string {
	return map[string]string{"email": email, "password": password}
}

// post sends body as JSON and returns the status and the decoded answer.
func (c *client) post(t *testing.T, path string, body any) (int, map[string]any) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", c.base+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m) // an empty body (204) stays nil
	return resp.StatusCode, m
}

func (c *client) mustPost(t *testing.T, path string, body any, want int) map[string]any {
	t.Helper()
	status, m := c.post(t, path, body)
	if status != want {
		t.Fatalf("POST %s: %d %v, want %d", path, status, m, want)
	}
	return m
}

// signIn returns the refresh token of a new session.
func (c *client) signIn(t *testing.T, email string) string {
	t.Helper()
	rt, _ := c.mustPost(t, "/auth/sign-in", creds(email), 200)["refreshToken"].(string)
	if rt == "" {
		t.Fatal("sign-in: no refreshToken")
	}
	return rt
}

func (c *client) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := c.hc.Get(c.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return string(b)
}
