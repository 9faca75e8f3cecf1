package e2etest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey-dev/latchkey/internal/testkit"
)

// ChromiumPath is where Debian's chromium package puts the browser
// (.ci/chromium.sh installs it).
const ChromiumPath = "/usr/bin/chromium"

// RequireChromium skips the test when Chromium is not installed, or fails
// it when CI=true (CI must run every test).
func RequireChromium(t testing.TB, what string) {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		msg := ChromiumPath + " not found (bash .ci/chromium.sh installs it): skipping " + what
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " is not allowed when CI=true")
		}
		t.Skip(msg)
	}
}

// Tab is one tab of a headless Chromium started by StartBrowser.
type Tab struct {
	Name string
	Ctx  context.Context // chromedp's context of the tab

	console *testkit.Buffer
}

// StartBrowser starts headless Chromium (no sandbox: tests run as root;
// no GPU; no background networking) with a fresh profile, and returns its
// first tab. Everything the browser does is bounded by timeout. The
// browser is stopped when the test ends; its output and every tab's console
// are logged if the test failed.
func StartBrowser(t *testing.T, timeout time.Duration) *Tab {
	t.Helper()
	profile := t.TempDir()
	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	out := &testkit.Buffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], // headless, no first run, no background networking, no sync
		chromedp.ExecPath(ChromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1000, 800),
		chromedp.CombinedOutput(out),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	tab := &Tab{Name: "tab1", Ctx: browserCtx, console: &testkit.Buffer{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancelBrowser() // closes the tabs and stops the browser
		cancelAlloc()   // waits for the process and its children
		cancelTimeout()
		wg.Wait()
		if t.Failed() {
			t.Logf("chromium output:\n%s", out.String())
		}
		// Chromium's children can write to the profile for a moment after
		// the browser exits; t.TempDir's own removal runs after this.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Do(browserCtx); err != nil { // starts the browser
		t.Fatalf("start %s: %v\n%s", ChromiumPath, err, out.String())
	}
	tab.readConsole(t, &wg)
	return tab
}

// NewTab opens another tab: in the same browser context as tb (same
// cookies, storage, BroadcastChannel), or in a new one, which shares
// nothing with the others, like a private window.
func (tb *Tab) NewTab(t *testing.T, name string, newBrowserContext bool) *Tab {
	t.Helper()
	var opts []chromedp.ContextOption
	if newBrowserContext {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(tb.Ctx, opts...)
	tab := &Tab{Name: name, Ctx: ctx, console: &testkit.Buffer{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		t.Fatalf("open tab %s: %v", name, err)
	}
	tab.readConsole(t, &wg)
	return tab
}

// Console returns the tab's console messages and uncaught exceptions so
// far, one a line.
func (tb *Tab) Console() string { return tb.console.String() }

// readConsole records the tab's console messages and uncaught exceptions,
// logged if the test fails.
func (tb *Tab) readConsole(t *testing.T, wg *sync.WaitGroup) {
	msgs := chromedp.Console(tb.Ctx)
	wg.Go(func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			fmt.Fprintf(tb.console, "%s %s: %s\n", time.Now().Format("15:04:05.000"), m.Type, m.Text)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s console:\n%s", tb.Name, tb.console.String())
		}
	})
}
