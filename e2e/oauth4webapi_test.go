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
