package web_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

// TestSDKLetsGoOfItsDatabase opens the SDK's IndexedDB database from the
// page while the SDK, signed in, holds its own connection to it, as an app
// clearing its data at sign-out does (deleteDatabase), and as a later
// version of the SDK in a newly opened tab does (a new version of the
// database): neither must wait for every tab to close
// (IndexedDB 3.0, "versionchange" event: a connection that does not close
// blocks the request). The SDK then goes on with the database as it finds
// it: after the deletion, this page keeps its DPoP key in memory, and a
// page loaded later makes a new one, which ends the session bound to the
// old (sign in again).
func TestSDKLetsGoOfItsDatabase(t *testing.T) {
	e2etest.RequireChromium(t, "the SDK's IndexedDB browser test")
	const email = "idb@example.com"
	// Every proof's htu names the front, the URL the page uses.
	_, f := startSDKServer(t, sdkLib(t), map[string]string{"JWT_EXPIRES_IN": "1m"}, true, email)
	anchor := e2etest.StartBrowser(t, 2*time.Minute)
	app := f.srv.URL + "/sdk-test/?mode=cookie&dpop=1"
	tab := openSDKTab(t, anchor, "idb", app)
	tab.eval(t, fmt.Sprintf("t.signIn(%q, %q)", email, sdkPassword))
	// The page asks for a new version of the database; "blocked" means the
	// SDK's connection held it up.
	const upgrade = `new Promise((resolve) => {
		const r = indexedDB.open('latchkey', 2);
		r.onblocked = () => resolve('blocked');
		r.onupgradeneeded = () => r.result.createObjectStore('v2');
		r.onsuccess = () => { r.result.close(); resolve('upgraded'); };
		r.onerror = () => resolve('error: ' + r.error);
	})`
	if got := string(tab.eval(t, upgrade)); got != `"upgraded"` {
		t.Fatalf("opening a new version of the SDK's database: %s", got)
	}
	const remove = `new Promise((resolve) => {
		const r = indexedDB.deleteDatabase('latchkey');
		r.onblocked = () => resolve('blocked');
		r.onsuccess = () => resolve('deleted');
		r.onerror = () => resolve('error: ' + r.error);
	})`
	// The SDK opens the database again when it next needs it (here for the
	// refresh's generation) and lets go of it again.
	tab.eval(t, "t.client.refresh()")
	if got := string(tab.eval(t, remove)); got != `"deleted"` {
		t.Fatalf("deleting the SDK's database: %s", got)
	}
	// This page still has its DPoP key in memory and goes on with it.
	if got := string(tab.eval(t, "t.client.refresh().then(() => 'refreshed', (e) => e.code + '/' + e.reason)")); got != `"refreshed"` {
		t.Errorf("refresh after the database was deleted: %s", got)
	}
	// A page loaded after makes a new key: the session, bound to the old
	// one, is over (sign in again).
	tab.open(t, app)
	if got := string(tab.eval(t, "t.resume()")); got != "false" {
		t.Errorf("resume with a new key: %s, want false", got)
	}
	if got := string(tab.eval(t, "t.stats.signedOut")); got != `"invalid_dpop_proof"` {
		t.Errorf("signed out with %s, want invalid_dpop_proof", got)
	}
	tab.eval(t, fmt.Sprintf("t.signIn(%q, %q)", email, sdkPassword))
	if got := string(tab.eval(t, "t.me()")); got != "200" {
		t.Errorf("GET /auth/me after signing in again: %s", got)
	}
}

// TestSDKReplacesAnUnusableKey stores something else than a key pair where
// the SDK keeps its DPoP key (another code of the origin using the same
// database name, an older format), before the page's first sign-in. The
// SDK must not be stuck failing every request for good: it replaces what
// is there with a new non-extractable key pair, and signs in.
func TestSDKReplacesAnUnusableKey(t *testing.T) {
	e2etest.RequireChromium(t, "the SDK's IndexedDB browser test")
	const email = "idbkey@example.com"
	_, f := startSDKServer(t, sdkLib(t), map[string]string{"JWT_EXPIRES_IN": "1m"}, true, email)
	anchor := e2etest.StartBrowser(t, 2*time.Minute)
	tab := openSDKTab(t, anchor, "idbkey", f.srv.URL+"/sdk-test/?mode=body&dpop=1")
	const plant = `new Promise((resolve, reject) => {
		const r = indexedDB.open('latchkey');
		r.onupgradeneeded = () => r.result.createObjectStore('kv');
		r.onsuccess = () => {
			const tx = r.result.transaction('kv', 'readwrite');
			tx.objectStore('kv').put({ privateKey: 'not a key', publicKey: { kty: 'EC' } }, 'dpop');
			tx.oncomplete = () => { r.result.close(); resolve(true); };
			tx.onerror = () => reject(tx.error);
		};
		r.onerror = () => reject(r.error);
	})`
	tab.eval(t, plant)
	if got := string(tab.eval(t, fmt.Sprintf("t.client.signIn(%q, %q).then((u) => u.email, (e) => e.code + ': ' + e.message)", email, sdkPassword))); got != fmt.Sprintf("%q", email) {
		t.Fatalf("sign-in with an unusable stored key: %s", got)
	}
	if got := string(tab.eval(t, "t.keyInfo().then((k) => k.extractable)")); got != "false" {
		t.Errorf("the new key's extractable: %s", got)
	}
	if got := string(tab.eval(t, "t.me()")); got != "200" {
		t.Errorf("GET /auth/me: %s", got)
	}
}
