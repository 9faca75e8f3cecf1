package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

// The set-up the SDK's browser tests share: the SDK built, the real binary
// behind the front that serves the test app (testdata/sdk), a user signed
// up, and tabs of the app in one browser.

// sdkPassword is the password of every SDK browser test's user.
const sdkPassword = "correct horse battery staple"

// sdkLib builds the SDK (once per test binary) and returns the library the
// front serves to the test app.
func sdkLib(t *testing.T) []byte {
	t.Helper()
	_, _ = buildSDK(t)
	lib, err := os.ReadFile(filepath.Join(sdkDir, "dist", "index.js"))
	if err != nil {
		t.Fatal(err)
	}
	return lib
}

// startSDKServer starts the front serving lib and the real binary with env
// behind it, and signs email up (password sdkPassword). publicFront makes
// the front's URL the server's PUBLIC_URL: the URL the page uses, which
// every DPoP proof's htu names.
func startSDKServer(t *testing.T, lib []byte, env map[string]string, publicFront bool, email string) (*e2etest.Proc, *front) {
	t.Helper()
	f := startFront(t, "", lib)
	if publicFront {
		env = maps.Clone(env)
		env["PUBLIC_URL"] = f.srv.URL
	}
	srv := e2etest.StartServer(t, env)
	f.setUpstream(t, srv.URL)
	api := &apiClient{t: t, base: srv.URL}
	if status, body := api.do("POST", "/auth/sign-up", map[string]string{"email": email, "password": sdkPassword}, ""); status != http.StatusCreated {
		t.Fatalf("sign-up: %d %s", status, body)
	}
	return srv, f
}

// sdkTab is one tab of the test app.
type sdkTab struct {
	*e2etest.Tab
	closed bool
}

// openSDKTab opens the test app at app in a new tab of browser.
func openSDKTab(t *testing.T, browser *e2etest.Tab, name, app string) *sdkTab {
	t.Helper()
	tb := &sdkTab{Tab: browser.NewTab(t, name, false)}
	tb.open(t, app)
	return tb
}

// openSDKTabs opens the test app at app in a new tab of browser per name.
func openSDKTabs(t *testing.T, browser *e2etest.Tab, app string, names ...string) []*sdkTab {
	t.Helper()
	tabs := make([]*sdkTab, len(names))
	for i, name := range names {
		tabs[i] = openSDKTab(t, browser, name, app)
	}
	return tabs
}

// tabNames names n tabs prefix1 … prefixn.
func tabNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%d", prefix, i+1)
	}
	return names
}

// signInTabs signs the first tab in as email and has every tab take up
// the session (resume). wantLock, unless "", is the lock each tab must use.
func signInTabs(t *testing.T, tabs []*sdkTab, email, wantLock string) {
	t.Helper()
	if got := string(tabs[0].eval(t, fmt.Sprintf("t.signIn(%q, %q)", email, sdkPassword))); got != fmt.Sprintf("%q", email) {
		t.Fatalf("%s: sign-in: %s", tabs[0].Name, got)
	}
	for _, tb := range tabs {
		if got := string(tb.eval(t, "t.resume()")); got != "true" {
			t.Fatalf("%s: resume: %s (the tab did not take up the session)", tb.Name, got)
		}
		if wantLock == "" {
			continue
		}
		if got := string(tb.eval(t, "t.lockKind")); got != `"`+wantLock+`"` {
			t.Fatalf("%s: lock %s, want %s", tb.Name, got, wantLock)
		}
	}
}

// open loads the test app at u in the tab and waits (bounded) for it to
// start.
func (tb *sdkTab) open(t *testing.T, u string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.Ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		t.Fatalf("%s: open %s: %v", tb.Name, u, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("window.ready === true")); err != nil {
		t.Fatalf("%s: %s did not start: %v", tb.Name, u, err)
	}
}

// eval evaluates js in the tab, awaiting a promise, and returns its value
// as JSON.
func (tb *sdkTab) eval(t *testing.T, js string) json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.Ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %s: %v", tb.Name, js, err)
	}
	return v
}

// evalInto evaluates js in the tab and decodes its value into v.
func (tb *sdkTab) evalInto(t *testing.T, js string, v any) {
	t.Helper()
	if err := json.Unmarshal(tb.eval(t, js), v); err != nil {
		t.Fatalf("%s: %s: %v", tb.Name, js, err)
	}
}

// stats is what the test app counted in the tab.
func (tb *sdkTab) stats(t *testing.T) tabStats {
	t.Helper()
	var s tabStats
	tb.evalInto(t, "t.stats", &s)
	return s
}

// poll waits (bounded) until js is true in the tab.
func poll(t *testing.T, tb *sdkTab, js string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.Ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js)); err != nil {
		t.Fatalf("%s: waiting for %s: %v", tb.Name, js, err)
	}
}
