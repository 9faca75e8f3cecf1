package web_test

import (
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

// TestSDKBusyServerInBrowser answers every refresh of eight tabs with 503
// and Retry-After: 2 (the front's, standing for a server whose database is
// down), in each mode. The browser as a whole must wait out Retry-After
// between any two refresh requests: when one tab's refresh fails, the tab
// that takes the lock after it must not try at once, and a tab without
// tokens (cookie mode, opened while the server was busy) no more than one
// with. When the server answers again, every tab recovers without a
// sign-in.
func TestSDKBusyServerInBrowser(t *testing.T) {
	e2etest.RequireChromium(t, "the SDK's busy-server browser test")
	if testing.Short() {
		t.Skip("-short: the busy-server browser test waits ~30 s of real time per mode")
	}
	lib := sdkLib(t)
	for _, mode := range []string{"cookie", "body"} {
		t.Run(mode, func(t *testing.T) { sdkBusy(t, mode, lib) })
	}
}

func sdkBusy(t *testing.T, mode string, lib []byte) {
	const (
		retryAfter = 2 * time.Second
		window     = 16 * time.Second
		tabs       = 8
	)
	const email = "busy@example.com"
	_, f := startSDKServer(t, lib, map[string]string{"JWT_EXPIRES_IN": sdkLifetime.String()}, false, email)
	app := f.srv.URL + "/sdk-test/?mode=" + mode
	anchor := e2etest.StartBrowser(t, 3*time.Minute)
	all := openSDKTabs(t, anchor, app, tabNames(mode+"-busy", tabs)...)
	signInTabs(t, all, email, "")
	f.reset()
	f.setBusy(int(retryAfter / time.Second))
	// The tokens expire within the window: every tab's timer asks for a
	// refresh, and a tab opened meanwhile (cookie mode: no tokens yet)
	// asks for one too.
	time.Sleep(window / 2)
	late := openSDKTab(t, anchor, mode+"-busy-late", app)
	late.eval(t, "t.resume().catch(() => false)")
	time.Sleep(window / 2)
	at := f.refreshTimes()
	f.setBusy(0)
	if len(at) < 2 {
		t.Fatalf("%d refresh requests in %s; want the tabs to have tried", len(at), window)
	}
	minGap := time.Hour
	gaps := 0
	for i := 1; i < len(at); i++ {
		d := at[i].Sub(at[i-1])
		minGap = min(minGap, d)
		if d < retryAfter*9/10 {
			gaps++
		}
	}
	t.Logf("%s: %d refresh requests from %d tabs in %s answered 503 Retry-After %s; shortest gap %s; %d gaps shorter than Retry-After",
		mode, len(at), tabs+1, window, retryAfter, minGap.Round(time.Millisecond), gaps)
	if gaps > 0 {
		t.Errorf("%d of %d refresh requests came sooner than Retry-After after the one before (shortest gap %s)", gaps, len(at)-1, minGap.Round(time.Millisecond))
	}
	// The server answers again: every tab recovers without a sign-in.
	for _, tb := range append(all, late) {
		poll(t, tb, "t.me().then((s) => s === 200, () => false)")
		if s := tb.stats(t); s.SignedOut != "" {
			t.Errorf("%s: signed out (%s)", tb.Name, s.SignedOut)
		}
	}
}
