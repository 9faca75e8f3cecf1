package e2e

import (
	"testing"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

// TestFeathersClient runs node/feathers.test.js, which drives the real
// @feathersjs/authentication-client v5 over @feathersjs/rest-client against
// a real `latchkey serve`: local sign-in, a protected route with the stored
// token, a refresh with {action: "refresh"}, reAuthenticate, logout, and a
// reused refresh token refused with NotAuthenticated.
func TestFeathersClient(t *testing.T) {
	node, npm := e2etest.RequireNode(t, "the FeathersJS client test")
	e2etest.NPMInstall(t, npm, "node")
	srv := e2etest.StartServer(t, map[string]string{
		// A superseded refresh token is reuse at once, not a grace reissue.
		"REFRESH_TOKEN_REUSE_INTERVAL": "0s",
	})
	out := e2etest.RunNode(t, node, "node", map[string]string{"LATCHKEY_URL": srv.URL}, "--test", "--test-reporter=spec", "feathers.test.js")
	t.Logf("node --test output:\n%s", out)
}
