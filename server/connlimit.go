package server

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Open connections cost memory whether or not they carry requests: each
// keep-alive connection holds a goroutine and its buffers (measured on the
// issue that introduced the cap: 5,000 idle connections raised the server's
// RSS from 94 to 155 MB, 15,000 to 342 MB). Timeouts alone bound how long
// a connection lives, not how many there are. So the API listener accepts
// at most MAX_CONNECTIONS at once.
//
// A connection over the cap is not refused: Accept closes the connection
// that has been idle (between two requests) the longest, which costs its
// client nothing but a new connection for its next request, and gives the
// new one the slot it frees. Only when every connection is busy with a
// request does a new one wait (and the ones after it, in the kernel's
// accept queue) until one ends. So many idle keep-alive connections cannot lock new clients out,
// and the memory of open connections stays bounded.

// limitConnections returns ln capped at max open connections (max <= 0:
// ln unchanged), and sets srv.ConnState to keep track of the idle ones.
func limitConnections(ln net.Listener, srv *http.Server, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	l := &connLimit{Listener: ln, slots: make(chan struct{}, max), done: make(chan struct{}),
		idle: map[net.Conn]time.Time{}}
	next := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		l.track(c, s)
		if next != nil {
			next(c, s)
		}
	}
	return l
}

type connLimit struct {
	net.Listener
	slots     chan struct{} // one per open connection
	done      chan struct{} // closed by Close
	closeOnce sync.Once

	mu   sync.Mutex
	idle map[net.Conn]time.Time // connections between two requests, since when
}

// Accept accepts a connection, then gives it a slot: a free one, or the one
// the longest-idle connection frees when it is closed for it, or else the
// first one a busy connection frees. (Making room only once a connection
// has arrived: the server calls Accept again as soon as it returns, and
// must not close an idle connection for a client that has not come.)
func (l *connLimit) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case l.slots <- struct{}{}:
	default:
		l.closeOldestIdle()
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		}
	}
	return &limitedConn{Conn: c, free: func() { <-l.slots }}, nil
}

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *connLimit) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// track records which connections are idle (http.Server.ConnState).
func (l *connLimit) track(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s == http.StateIdle {
		l.idle[c] = time.Now()
	} else {
		delete(l.idle, c)
	}
}

// closeOldestIdle closes the connection idle the longest, if any.
func (l *connLimit) closeOldestIdle() {
	l.mu.Lock()
	var oldest net.Conn
	var since time.Time
	for c, t := range l.idle {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	delete(l.idle, oldest)
	l.mu.Unlock()
	if oldest != nil {
		oldest.Close()
	}
}

// limitedConn frees its slot once, when it is closed.
type limitedConn struct {
	net.Conn
	once sync.Once
	free func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.free)
	return err
}
