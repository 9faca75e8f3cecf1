package e2e

import (
	"os"
	"testing"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

func TestMain(m *testing.M) { os.Exit(e2etest.Run(m)) }
