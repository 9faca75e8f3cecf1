package web_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

// sdkDir is the browser SDK's npm project, from this package's directory.
const sdkDir = "../sdk/browser"

// sdkBuilt holds one build of the SDK per test binary: npm ci when needed,
// then build.mjs, which type-checks the sources, writes sdk/browser/dist
// and the account page's bundle into webOut.
var sdkBuilt struct {
	sync.Mutex
	done bool
	node string
	app  []byte // the app.js it built
}

// buildSDK builds the SDK (once) and returns node's path and the freshly
// built app.js. Only this package runs npm in
// sdk/browser, so two test binaries never install there at once.
func buildSDK(t *testing.T) (node string, app []byte) {
	t.Helper()
	node, npm := e2etest.RequireNode(t, "the browser SDK's build and tests")
	sdkBuilt.Lock()
	defer sdkBuilt.Unlock()
	if !sdkBuilt.done {
		e2etest.NPMInstall(t, npm, sdkDir)
		dir, err := os.MkdirTemp("", "latchkey-sdk-build-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		e2etest.RunNode(t, node, sdkDir, nil, "build.mjs", "--web-out", dir)
		app, err := os.ReadFile(filepath.Join(dir, "app.js"))
		if err != nil {
			t.Fatal(err)
		}
		sdkBuilt.done, sdkBuilt.node, sdkBuilt.app = true, node, app
	}
	return sdkBuilt.node, sdkBuilt.app
}

// TestBundleIsCurrent fails when the committed web/app.js (embedded in the
// binary) is not what sdk/browser/build.mjs makes of web/page/app.js and
// the SDK's sources: a change to either must be committed with its bundle
// (`npm run build` in sdk/browser).
func TestBundleIsCurrent(t *testing.T) {
	_, fresh := buildSDK(t)
	committed, err := os.ReadFile("app.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Fatalf("web/app.js differs from a fresh build of web/page/app.js and sdk/browser/src (%d bytes built, %d committed): run `npm run build` in sdk/browser and commit web/app.js", len(fresh), len(committed))
	}
}

// TestSDKNodeTests runs the SDK's own tests (node --test sdk/browser/tests):
// schedule, clock skew, retries, error mapping, fetch, storage adapters,
// DPoP proofs, the password calls, the 8 kB size limit, and the client
// against a real `latchkey serve`. The server runs in development without
// SMTP_URL, so it writes its e-mails' links to its log; the tests read
// the log's development-only mail lines at LATCHKEY_MAIL_LOG_URL (a
// loopback server of this test) to follow a reset link.
func TestSDKNodeTests(t *testing.T) {
	node, _ := buildSDK(t)
	srv := e2etest.StartServer(t, nil)
	mailLog := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, line := range strings.Split(srv.Logs(), "\n") {
			if strings.Contains(line, "DEVELOPMENT ONLY") && strings.Contains(line, "mail_link") {
				_, _ = w.Write([]byte(line + "\n"))
			}
		}
	}))
	defer mailLog.Close()
	out := e2etest.RunNode(t, node, sdkDir, map[string]string{"LATCHKEY_URL": srv.URL, "LATCHKEY_MAIL_LOG_URL": mailLog.URL}, "--test", "--test-reporter=spec", "tests/")
	t.Logf("node --test output:\n%s", out)
	for _, want := range []string{"size:", "against the real server", "password change against the real server"} {
		if !strings.Contains(out, want) {
			t.Errorf("node --test output lacks %q", want)
		}
	}
	if strings.Contains(out, "# SKIP") || strings.Contains(out, "﹣ ") {
		t.Errorf("a test of the SDK was skipped:\n%s", out)
	}
}
