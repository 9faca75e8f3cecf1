package web_test

import (
	"os"
	"testing"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

// TestMain removes the latchkey binary the browser test builds.
func TestMain(m *testing.M) { os.Exit(e2etest.Run(m)) }
