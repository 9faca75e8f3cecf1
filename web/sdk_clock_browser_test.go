package web_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

// TestSDKClockSetBackInBrowser sets the machine's clock back by two hours
// (a clock that ran fast, corrected) while the tabs share state written
// with the fast clock, without Web Locks, in body mode, in Chromium against
// the real binary. Each tab has its own page clock here (the test app's
// shiftClock), which stands for the one machine clock before and after:
//
//   - tab A takes the IndexedDB lease while the clock is fast and stops
//     holding it; the clock is set back: the lease now looks good for two
//     hours. Tab B must not wait for it (a lease runs 20 s at most), and A,
//     going on, must not send the refresh token B spent;
//   - a refresh fails (503, Retry-After: 2) while the clock is fast; set
//     back, the wait it left looks two hours long. A refresh must not be
//     held up by it (a wait is 10 minutes at most).
func TestSDKClockSetBackInBrowser(t *testing.T) {
	e2etest.RequireChromium(t, "the SDK's clock browser test")
	const email = "clock@example.com"
	_, f := startSDKServer(t, sdkLib(t), map[string]string{"JWT_EXPIRES_IN": "1m"}, false, email)
	app := f.srv.URL + "/sdk-test/?mode=body&nolocks=1"
	anchor := e2etest.StartBrowser(t, 2*time.Minute)
	tabs := openSDKTabs(t, anchor, app, "clock-a", "clock-b")
	signInTabs(t, tabs, email, "")
	a, b := tabs[0], tabs[1]
	const twoHours = 2 * 3600 * 1000
	refresh := "t.client.refresh().then(() => 'ok', (e) => e.code)"

	// The lease.
	f.reset()
	a.eval(t, fmt.Sprintf("t.shiftClock(%d)", twoHours))
	a.eval(t, "t.holdNextRead()")
	a.eval(t, "t.refreshInBackground()")
	poll(t, a, "t.readHeld()")
	a.eval(t, fmt.Sprintf("t.shiftClock(%d)", -twoHours))
	if got := string(b.eval(t, refresh)); got != `"ok"` {
		t.Fatalf("B's refresh with a lease taken two hours ahead: %s", got)
	}
	a.eval(t, "t.releaseRead()")
	poll(t, a, "t.stats.refreshOutcome !== ''")
	if got := string(a.eval(t, "t.stats.refreshOutcome")); got != `"ok"` {
		t.Errorf("A's refresh ended with %s", got)
	}
	if ok, codes, twice := f.counts(); ok != 1 || twice > 0 || len(codes) > 0 {
		t.Errorf("after the lease: %d refreshes answered 200, refused %v, credentials answered twice %d; want 1, none, 0", ok, codes, twice)
	}

	// The wait after a failure.
	f.setBusy(2)
	a.eval(t, fmt.Sprintf("t.shiftClock(%d)", twoHours))
	if got := string(a.eval(t, refresh)); got != `"temporarily_unavailable"` {
		t.Fatalf("A's refresh while the server is busy: %s", got)
	}
	a.eval(t, fmt.Sprintf("t.shiftClock(%d)", -twoHours))
	f.setBusy(0)
	time.Sleep(2500 * time.Millisecond) // the real wait (Retry-After: 2) is over
	for _, tb := range []*sdkTab{a, b} {
		if got := string(tb.eval(t, refresh)); got != `"ok"` {
			t.Errorf("%s: refresh after a wait written two hours ahead: %s", tb.Name, got)
		}
	}
}
