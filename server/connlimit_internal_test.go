package server

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// connT0 is where the connection-limit tests' clock starts.
var connT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// oneConn is a limit of one connection for a server, on a clock the test
// moves (now), with one connection: the server's end of a pipe.
type oneConn struct {
	l    *connLimit
	srv  *http.Server
	conn net.Conn
	now  time.Time
}

// limitOne sets up a oneConn for handler h, its clock at connT0, and tracks
// its connection through states.
func limitOne(t *testing.T, h http.Handler, states ...http.ConnState) *oneConn {
	t.Helper()
	c := &oneConn{srv: &http.Server{Handler: h}, now: connT0}
	c.l = limitConnections(nil, c.srv, 1).(*connLimit)
	c.l.now = func() time.Time { return c.now }
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	c.conn = a
	for _, s := range states {
		c.l.track(a, s)
	}
	return c
}

// serve runs a POST with body through the server as if it came on the
// connection.
func (c *oneConn) serve(body string) {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r = r.WithContext(context.WithValue(r.Context(), connKey{}, c.conn))
	c.srv.Handler.ServeHTTP(httptest.NewRecorder(), r)
}

// TestConnLimitSparesActiveKeepAlive: a keep-alive connection idle between
// two requests for less than waitGrace is not closed for a new connection.
// Its client is active and its next request may already be on the way: with
// 2,048 keep-alive clients refreshing against the default cap of 1,024,
// closing the connection idle the longest (idle for milliseconds) failed
// two refreshes in five ("http: server closed idle connection", EOF: a POST
// is not retried) and cut the rate to an eighth, each reconnection closing
// another client's connection in turn. After waitGrace, it may be closed.
func TestConnLimitSparesActiveKeepAlive(t *testing.T) {
	c := limitOne(t, http.NotFoundHandler(), http.StateIdle) // just answered its request

	c.now = connT0.Add(waitGrace / 10)
	if closed, in := c.l.closeOldestWaiting(c.now); closed || in != waitGrace-waitGrace/10 {
		t.Fatalf("idle for %v: closed %v, retry in %v; want kept, retry in %v", c.now.Sub(connT0), closed, in, waitGrace-waitGrace/10)
	}
	c.now = connT0.Add(waitGrace)
	if closed, _ := c.l.closeOldestWaiting(c.now); !closed {
		t.Fatalf("idle for %v: not closed for a new connection", c.now.Sub(connT0))
	}
}

// TestConnLimitUnreadBodyStillWaiting: a handler that answers without
// reading the request's body (a refusal before the body matters: 401, 404,
// 405, a rate limit) leaves the server to read the rest of it before it
// answers (net/http discards up to 256 KiB). During that read the server
// waits for the client again: a client trickling its body in must stay
// closable for a new connection once it has waited waitGrace, as it is
// while a handler reads the body. Marking the connection serving when the
// handler returns let one client per slot hold the cap for the 30 s read
// timeout by sending a body a byte at a time to a route that ignores it.
func TestConnLimitUnreadBodyStillWaiting(t *testing.T) {
	c := limitOne(t, http.NotFoundHandler(), http.StateNew, http.StateActive) // never reads the body; its headers are in
	c.serve(`{"trickled":`)

	c.now = connT0.Add(time.Minute)
	if closed, _ := c.l.closeOldestWaiting(c.now); !closed {
		t.Fatal("a connection whose body the server still waits for, after its handler returned, cannot be closed for a new connection")
	}
}

// TestConnLimitReadBodyServing: a handler that read its body to the end
// is serving until the server marks the connection idle, even past
// waitGrace (it is not closed with its answer in flight).
func TestConnLimitReadBodyServing(t *testing.T) {
	var c *oneConn
	c = limitOne(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf [64]byte
		for {
			if _, err := r.Body.Read(buf[:]); err != nil {
				break
			}
		}
		c.now = c.now.Add(time.Minute) // a slow handler, after the body
	}), http.StateNew, http.StateActive)
	c.serve(`{}`)
	if closed, _ := c.l.closeOldestWaiting(c.now); closed {
		t.Fatal("a connection whose body was read was closed before the server marked it idle")
	}
}
