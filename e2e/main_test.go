package e2e

import (
	"os"
	"testing"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv("LATCHKEY_E2E_PUSH_ENDPOINT"); addr != "" {
		os.Exit(pushEndpointMain(addr)) // the receiver process of an SSF crash test (ssf_helpers_test.go)
	}
	os.Exit(e2etest.Run(m))
}
