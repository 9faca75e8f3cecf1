package e2e

import (
	"testing"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

// TestOAuth4WebAPIClient runs node/oauth4webapi.test.js: the oauth4webapi
// client against a real `latchkey serve`, as a public client: discovery,
// refresh, introspection, revocation, and the refusals of a wrong client
// secret (in the body and in HTTP Basic, nothing consumed), a scope, the
// client credentials grant and another client's revocation.
func TestOAuth4WebAPIClient(t *testing.T) {
	node, npm := e2etest.RequireNode(t, "the oauth4webapi client test")
	e2etest.NPMInstall(t, npm, "node")
	srv := e2etest.StartServer(t, nil)
	out := e2etest.RunNode(t, node, "node", map[string]string{"LATCHKEY_URL": srv.URL}, "--test", "--test-reporter=spec", "oauth4webapi.test.js")
	t.Logf("node --test output:\n%s", out)
}

// TestOAuth4WebAPIDPoP runs node/oauth4webapi-dpop.test.js: oauth4webapi's
// DPoP() handle against a real `latchkey serve`, with DPOP_NONCE off and on:
// the password grant with a proof gets token_type DPoP, the same handle
// refreshes and calls /auth/me with protectedResourceRequest, the tokens
// are refused without the key, and with nonces on the library's nonce
// retry (isDPoPNonceError) just works.
func TestOAuth4WebAPIDPoP(t *testing.T) {
	node, npm := e2etest.RequireNode(t, "the oauth4webapi DPoP test")
	e2etest.NPMInstall(t, npm, "node")
	for _, nonce := range []string{"off", "on"} {
		t.Run("DPOP_NONCE="+nonce, func(t *testing.T) {
			srv := e2etest.StartServer(t, map[string]string{"DPOP_NONCE": nonce})
			out := e2etest.RunNode(t, node, "node", map[string]string{"LATCHKEY_URL": srv.URL, "LATCHKEY_DPOP_NONCE": nonce},
				"--test", "--test-reporter=spec", "oauth4webapi-dpop.test.js")
			t.Logf("node --test output:\n%s", out)
		})
	}
}
