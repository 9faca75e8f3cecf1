package server_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
)

// keepAlive opens a connection to the server at base and sends one GET
// /healthz on it, reading the answer, so the connection is left open and
// idle, as a browser or an HTTP client pool leaves it.
func keepAlive(t *testing.T, base string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	br := bufio.NewReader(c)
	roundTrip(t, c, br)
	return c, br
}

// roundTrip sends GET /healthz on c and reads a 200.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("GET /healthz: %d, close %v", resp.StatusCode, resp.Close)
	}
}

// closedByServer reports whether the server closes c within wait.
func closedByServer(c net.Conn, br *bufio.Reader, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	defer c.SetReadDeadline(time.Time{})
	_, err := br.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestConnectionCap: with MAX_CONNECTIONS=4, four clients keep idle
// keep-alive connections open; a fifth client is still served, because the
// connection idle the longest is closed to make room, and the others stay
// open. Without the cap the first connection would stay open too: open
// connections were bounded only by the idle timeout.
func TestConnectionCap(t *testing.T) {
	app := openApp(t, func(c *config.Config) { c.MaxConnections = 4 })
	base, _, _ := serve(t, app)
	type conn struct {
		c  net.Conn
		br *bufio.Reader
	}
	var conns []conn
	for range 4 {
		c, br := keepAlive(t, base)
		conns = append(conns, conn{c, br})
		time.Sleep(2 * time.Millisecond) // distinct idle times: the first is the oldest
	}
	keepAlive(t, base) // the fifth
	if !closedByServer(conns[0].c, conns[0].br, 5*time.Second) {
		t.Fatal("the connection idle the longest was not closed for the fifth client")
	}
	for i, c := range conns[1:] {
		if closedByServer(c.c, c.br, 50*time.Millisecond) {
			t.Errorf("connection %d closed, though only one was needed", i+2)
		}
		roundTrip(t, c.c, c.br) // still usable
	}
}

// TestIdleConnectionClosed: a keep-alive connection with no request for
// HTTP_IDLE_TIMEOUT is closed by the server.
func TestIdleConnectionClosed(t *testing.T) {
	app := openApp(t, func(c *config.Config) { c.HTTPIdleTimeout = config.Duration(200 * time.Millisecond) })
	base, _, _ := serve(t, app)
	c, br := keepAlive(t, base)
	if !closedByServer(c, br, 10*time.Second) {
		t.Fatal("an idle connection outlived HTTP_IDLE_TIMEOUT")
	}
}

// TestConnectionCapSilentClients: with MAX_CONNECTIONS=4, one client holds
// every slot with connections that never finish a request: silent, or
// stopping in the middle of a request's headers, or in its body. Such
// connections are not serving anyone; a new client must be served without
// waiting for the header or read timeout (10 s, 30 s) to free a slot, by
// closing the one that has waited the longest. Before, only connections
// idle between two requests were closed for a new one, so a single client
// with MAX_CONNECTIONS such sockets, renewed at each timeout, kept every
// other client waiting.
func TestConnectionCapSilentClients(t *testing.T) {
	const (
		headers = "GET /healthz HTTP/1.1\r\nHost: test\r\n"
		body    = "POST /auth/sign-in HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":"
	)
	for _, tc := range []struct {
		name  string
		sends []string
	}{
		{"silent or mid-headers", []string{"", "", headers, headers}},
		{"mid-body", []string{body, body, body, body}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := openApp(t, func(c *config.Config) { c.MaxConnections = 4 })
			base, _, _ := serve(t, app)
			keepAlive(t, base) // the server is up; this connection stays idle
			addr := strings.TrimPrefix(base, "http://")
			start := time.Now()
			var stuck []net.Conn
			for _, send := range tc.sends {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				if _, err := io.WriteString(c, send); err != nil {
					t.Fatal(err)
				}
				stuck = append(stuck, c)
			}
			// The fifth client: served, before any stuck connection's header
			// timeout (10 s) could have freed a slot.
			const headerTimeout = 10 * time.Second
			client := &http.Client{Timeout: headerTimeout - time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := client.Get(base + "/healthz")
			if err != nil {
				t.Fatalf("a new client while stuck connections hold every slot: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /healthz: %d", resp.StatusCode)
			}
			if waited := time.Since(start); waited >= headerTimeout {
				t.Fatalf("served only after %v: a timeout freed the slot, not the cap", waited)
			}
			closed := 0
			for _, c := range stuck {
				if closedByServer(c, bufio.NewReader(c), 50*time.Millisecond) {
					closed++
				}
			}
			if closed == 0 {
				t.Error("no stuck connection was closed for the new client")
			}
		})
	}
}
