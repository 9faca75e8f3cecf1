package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

// The Aurelia app of aurelia_test.go: e2e/aurelia's sources plus the
// guide's authConfig.js and main.js, taken from docs/clients.md at every
// run, so the guide is what runs.

const (
	aureliaDir   = "aurelia"            // the Node project: package.json, lockfile, build.mjs, src/
	clientsGuide = "../docs/clients.md" // the guide whose snippets become the app's source
	// guideLatchkeyURL is the Latchkey URL in the guide's main.js; the test
	// puts its own there.
	guideLatchkeyURL = "'https://auth.example.com'"
)

// guideSnippets returns the JavaScript blocks of the guide's
// aurelia-authentication section by file name: each block whose first line
// is a comment naming a file ("// authConfig.js").
func guideSnippets(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(clientsGuide)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "\n## aurelia-authentication\n")
	if start < 0 {
		t.Fatalf("%s has no aurelia-authentication section", clientsGuide)
	}
	section := doc[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	out := map[string]string{}
	block := regexp.MustCompile("(?s)```js\n// ([A-Za-z]+\\.js)\n(.*?)```")
	for _, m := range block.FindAllStringSubmatch(section, -1) {
		out[m[1]] = "// " + m[1] + "\n" + m[2]
	}
	return out
}

// buildAureliaApp bundles the app with the guide's snippets into a
// temporary directory, with main.js pointed at latchkeyURL, and returns the
// directory to serve (index.html, app.bundle.js).
func buildAureliaApp(t *testing.T, node, latchkeyURL string) string {
	t.Helper()
	all := guideSnippets(t)
	snippets := map[string]string{}
	for _, name := range []string{"authConfig.js", "main.js"} {
		if all[name] == "" {
			t.Fatalf("%s: no js block starting with %q in the aurelia-authentication section", clientsGuide, "// "+name)
		}
		snippets[name] = all[name]
	}
	if n := strings.Count(snippets["main.js"], guideLatchkeyURL); n != 1 {
		t.Fatalf("%s: the guide's main.js names Latchkey's URL %s %d times; want once", clientsGuide, guideLatchkeyURL, n)
	}
	snippets["main.js"] = strings.Replace(snippets["main.js"], guideLatchkeyURL, "'"+latchkeyURL+"'", 1)

	src := t.TempDir()
	entries, err := os.ReadDir(filepath.Join(aureliaDir, "src"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(aureliaDir, "src", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(src, e.Name()), b)
	}
	for name, body := range snippets {
		writeFile(t, filepath.Join(src, name), []byte(body))
	}
	www := t.TempDir()
	if err := os.Rename(filepath.Join(src, "index.html"), filepath.Join(www, "index.html")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), e2etest.NodeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "build.mjs", src, filepath.Join(www, "app.bundle.js"))
	cmd.Dir = aureliaDir
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node build.mjs: %v\n%s", err, out)
	}
	t.Logf("bundled the app with the guide's authConfig.js and main.js in %s", time.Since(start).Round(time.Millisecond))
	return www
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// appPage is a tab with the Aurelia app open.
type appPage struct {
	*e2etest.Tab
}

// appState is what the app reports (window.app.state()).
type appState struct {
	Authenticated bool   `json:"authenticated"` // AuthService.authenticated
	Stored        bool   `json:"stored"`        // the library's localStorage entry exists
	RefreshToken  string `json:"refreshToken"`
	AccessToken   string `json:"accessToken"`
	Exp           int64  `json:"exp"`
	Hash          string `json:"hash"`
	StorageEvents int    `json:"storageEvents"`
	Calls         struct {
		OK        int    `json:"ok"`
		Failed    int    `json:"failed"`
		LastError string `json:"lastError"`
	} `json:"calls"`
	// What the page shows (Aurelia's bindings).
	ShownAuthenticated string `json:"shownAuthenticated"`
	ShownUser          string `json:"shownUser"`
}

const readAppState = `(() => {
  if (!window.app) return null;
  const s = window.app.state();
  s.shownAuthenticated = document.querySelector('#authenticated').textContent;
  s.shownUser = document.querySelector('#user').textContent;
  return s;
})()`

const pageStep = 10 * time.Second

// openApp opens the app at url in tab and waits until Aurelia has rendered
// it.
func openApp(t *testing.T, tab *e2etest.Tab, url string) appPage {
	t.Helper()
	p := appPage{tab}
	ctx, cancel := context.WithTimeout(tab.Ctx, pageStep)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("%s: open %s: %v", tab.Name, url, err)
	}
	p.waitFor(t, "the app rendered", pageStep, func(s appState) bool { return s.ShownAuthenticated != "" })
	return p
}

// state reads the app's state; ok is false before the app has started.
func (p appPage) state(t *testing.T) (appState, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, pageStep)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[*appState](readAppState))
	if err != nil {
		t.Fatalf("%s: read the app's state: %v", p.Name, err)
	}
	if s == nil {
		return appState{}, false
	}
	return *s, true
}

// waitFor polls the app's state until ok holds, failing the test after
// timeout.
func (p appPage) waitFor(t *testing.T, what string, timeout time.Duration, ok func(appState) bool) appState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s, started := p.state(t)
		if started && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s within %s; the app reports %+v", p.Name, what, timeout, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call evaluates a call of the app's view-model (window.app) that returns
// a promise, and returns the promise's value as JSON, or the message of
// its rejection as an error.
func (p appPage) call(t *testing.T, js string) (json.RawMessage, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, pageStep)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage]("window.app."+js, chromedp.EvalAwaitPromise))
	var ee *chromedp.ExceptionError
	if errors.As(err, &ee) {
		msg := ee.ExceptionDetails.Text
		if ee.ExceptionDetails.Exception != nil && ee.ExceptionDetails.Exception.Description != "" {
			msg = strings.SplitN(ee.ExceptionDetails.Exception.Description, "\n", 2)[0]
		}
		return nil, errors.New(msg)
	}
	if err != nil {
		t.Fatalf("%s: app.%s: %v", p.Name, js, err)
	}
	return v, nil
}

// mustCall is call for calls that must succeed.
func (p appPage) mustCall(t *testing.T, js string) json.RawMessage {
	t.Helper()
	v, err := p.call(t, js)
	if err != nil {
		t.Fatalf("%s: app.%s: %v", p.Name, js, err)
	}
	return v
}

// do runs chromedp actions in the tab (typing, clicking).
func (p appPage) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, pageStep)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %s: %v", p.Name, what, err)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func jsCall(method string, args ...string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = jsString(a)
	}
	return fmt.Sprintf("%s(%s)", method, strings.Join(quoted, ", "))
}

// start evaluates a call of the app's view-model without waiting for it
// (a loop that runs until stopped).
func (p appPage) start(t *testing.T, js string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, pageStep)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void]("void window.app."+js)); err != nil {
		t.Fatalf("%s: app.%s: %v", p.Name, js, err)
	}
}

// siteServer serves the app (index.html, app.bundle.js) and, under /api/,
// the app's own API.
type siteServer struct {
	files http.Handler
	api   *apiServer
}

func (s *siteServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api/hello" {
		s.api.ServeHTTP(w, r)
		return
	}
	s.files.ServeHTTP(w, r)
}

// apiServer is the app's own API: GET and POST /api/hello for a valid
// access token, verified as the guide tells, with Latchkey's JWKS
// (latchkey.RemoteKeys) and the default leeway (latchkey.AccessLeeway). It
// counts by session what it answered, and the tokens that arrived past
// their exp: aurelia-authentication rounds the clock to whole seconds and
// may use a token up to 0.5 s after it expired.
type apiServer struct {
	auth *latchkey.Authenticator

	mu     sync.Mutex
	counts map[string]*apiCounts // by the bearer token's session ("" without one)
}

type apiCounts struct {
	ok, unauthorized int
	late             int           // accepted, but past exp
	latest           time.Duration // the most past exp of those
}

// of returns the counts of session sid.
func (a *apiServer) of(sid string) apiCounts {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.counts[sid]; c != nil {
		return *c
	}
	return apiCounts{}
}

func (a *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := a.auth.Authenticate(r)
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	a.mu.Lock()
	if a.counts == nil {
		a.counts = map[string]*apiCounts{}
	}
	sid := sidOf(bearer)
	c := a.counts[sid]
	if c == nil {
		c = &apiCounts{}
		a.counts[sid] = c
	}
	if err != nil {
		c.unauthorized++
	} else {
		c.ok++
		if past := time.Since(p.Claims.ExpiresAt); past > 0 {
			c.late++
			c.latest = max(c.latest, past)
		}
	}
	a.mu.Unlock()
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, `{"error":"invalid_token"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"hello":%q}`, p.UserID)
}
