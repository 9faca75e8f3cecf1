package server

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// TestConnLimitSparesActiveKeepAlive: a keep-alive connection idle between
// two requests for less than waitGrace is not closed for a new connection.
// Its client is active and its next request may already be on the way: with
// 2,048 keep-alive clients refreshing against the default cap of 1,024,
// closing the connection idle the longest (idle for milliseconds) failed
// two refreshes in five ("http: server closed idle connection", EOF: a POST
// is not retried) and cut the rate to an eighth, each reconnection closing
// another client's connection in turn. After waitGrace, it may be closed.
func TestConnLimitSparesActiveKeepAlive(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	l := limitConnections(nil, &http.Server{Handler: http.NotFoundHandler()}, 1).(*connLimit)
	l.now = func() time.Time { return now }
	a, b := net.Pipe()
	defer b.Close()
	l.track(a, http.StateIdle) // just answered its request

	now = t0.Add(waitGrace / 10)
	if closed, in := l.closeOldestWaiting(now); closed || in != waitGrace-waitGrace/10 {
		t.Fatalf("idle for %v: closed %v, retry in %v; want kept, retry in %v", now.Sub(t0), closed, in, waitGrace-waitGrace/10)
	}
	now = t0.Add(waitGrace)
	if closed, _ := l.closeOldestWaiting(now); !closed {
		t.Fatalf("idle for %v: not closed for a new connection", now.Sub(t0))
	}
}
