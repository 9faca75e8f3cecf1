package e2e

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

func TestScratchSlowClient(t *testing.T) {
	p := e2etest.StartServer(t, map[string]string{"SHUTDOWN_TIMEOUT": "1s", "LOG_FORMAT": "text"})
	c, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"refre")
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	syscall.Kill(p.PID(), syscall.SIGTERM)
	for !p.Exited() {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("exited after %s: %v\n%s", time.Since(start), p.Stop(), p.Logs())
}
