package web_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

// sdkLeaseMS is the SDK's IndexedDB lease (sdk/browser/src/lock.ts
// LEASE_MS): a tab whose clock is this much ahead sees any lease as run out.
const sdkLeaseMS = 20_000

// TestSDKLeaseLostInBrowser attacks the lock that stands in for Web Locks
// (the IndexedDB lease) in Chromium, against the real binary, in body mode:
// tab A takes the lease and reads the refresh token, then stops (a frozen
// or starved tab) until its lease has run out; tab B takes the lease and
// refreshes; then A goes on. A must not send the refresh token it read,
// which B has already spent (the server would take a second use outside
// its reuse interval for a stolen token and end the session): it finds its
// lease gone before sending, takes the lock again, and adopts B's tokens.
func TestSDKLeaseLostInBrowser(t *testing.T) {
	e2etest.RequireChromium(t, "the SDK's lease browser test")
	const email = "lease@example.com"
	_, f := startSDKServer(t, sdkLib(t), map[string]string{"JWT_EXPIRES_IN": "1m"}, false, email)
	app := f.srv.URL + "/sdk-test/?mode=body&nolocks=1"
	anchor := e2etest.StartBrowser(t, 2*time.Minute)
	tabs := openSDKTabs(t, anchor, app, "lease-a", "lease-b")
	signInTabs(t, tabs, email, "indexeddb")
	a, b := tabs[0], tabs[1]
	f.reset()

	// A takes the lease, reads the tokens, and stops.
	a.eval(t, "t.holdNextRead()")
	a.eval(t, "t.refreshInBackground()")
	poll(t, a, "t.readHeld()")
	// For B, A's lease has run out; B refreshes.
	b.eval(t, fmt.Sprintf("t.shiftClock(%d)", sdkLeaseMS+5000))
	b.eval(t, "t.client.refresh()")
	if ok, codes, _ := f.counts(); ok != 1 || len(codes) != 0 {
		t.Fatalf("B's refresh: %d answered 200, refused %v", ok, codes)
	}
	// A goes on.
	a.eval(t, "t.releaseRead()")
	poll(t, a, "t.stats.refreshOutcome !== ''")
	if got := string(a.eval(t, "t.stats.refreshOutcome")); got != `"ok"` {
		t.Errorf("A's refresh ended with %s", got)
	}
	ok, codes, twice := f.counts()
	t.Logf("after A went on: %d refreshes answered 200, refused %v, credentials answered twice %d", ok, codes, twice)
	if twice > 0 || len(codes) > 0 {
		t.Errorf("A sent the refresh token B had spent: answered twice %d, refused %v", twice, codes)
	}
	ta, tb := string(a.eval(t, "t.token()")), string(b.eval(t, "t.token()"))
	if ta != tb {
		t.Errorf("the tabs hold different access tokens after the refreshes")
	}
	for _, tab := range []*sdkTab{a, b} {
		if got := string(tab.eval(t, "t.me()")); got != "200" {
			t.Errorf("%s: GET /auth/me: %s", tab.Name, got)
		}
	}
}
