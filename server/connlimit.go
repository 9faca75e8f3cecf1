package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Open connections cost memory whether or not they carry requests: each
// keep-alive connection holds a goroutine and its buffers (measured on the
// issue that introduced the cap: 5,000 idle connections raised the server's
// RSS from 94 to 155 MB, 15,000 to 342 MB). Timeouts alone bound how long
// a connection lives, not how many there are. So the API listener accepts
// at most MAX_CONNECTIONS at once.
//
// A connection over the cap is not refused: Accept closes, to give the new
// one its slot, the connection that has been waiting the longest without
// being served, once it has waited waitGrace: idle between two requests for
// that long (which costs its client nothing but a new connection for its
// next request), or not through a request after it (connected and silent,
// or trickling its headers or body in, which no real client does for that
// long). Only when every connection has a request being handled, or has been
// waiting less than waitGrace, does a new one wait (and the ones after it,
// in the kernel's accept queue). A connection idle for less than waitGrace
// belongs to a client between two requests, whose next one may already be
// on its way: closing it fails that request (a POST is not retried by the
// client), and the client's new connection closes another's in turn. With
// more active keep-alive clients than the cap, that churn cut refreshes
// to an eighth and failed two in five of them (docs/performance.md, "Idle
// connections"); now the clients over the cap wait to be accepted instead. So
// neither idle keep-alive connections nor connections that never finish a
// request (one client holding every slot, each for up to the 10 s header or
// 30 s read timeout) can lock new clients out, and the memory of open connections
// stays bounded.

// waitGrace is how long a connection may wait without being served (idle
// between two requests, or bringing one: headers and body) before it may be
// closed for a new connection: long enough for any real client to send a
// request, so that a burst of new connections over the cap does not close
// each other's before they ask, and an active client's keep-alive connection
// is not closed between two of its requests.
const waitGrace = time.Second

// limitConnections returns ln capped at max open connections (max <= 0:
// ln unchanged). It sets srv.ConnState and srv.ConnContext, and wraps
// srv.Handler, to keep track of the connections that are waiting: open and
// not serving a request (its handler not running).
func limitConnections(ln net.Listener, srv *http.Server, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	l := &connLimit{Listener: ln, slots: make(chan struct{}, max), done: make(chan struct{}),
		changed: make(chan struct{}, 1), waiting: map[net.Conn]time.Time{}, now: time.Now}
	next := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		l.track(c, s)
		if next != nil {
			next(c, s)
		}
	}
	nextCtx := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if nextCtx != nil {
			ctx = nextCtx(ctx, c)
		}
		return context.WithValue(ctx, connKey{}, c)
	}
	h := srv.Handler
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := r.Context().Value(connKey{}).(net.Conn)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			l.serving(c)
			h.ServeHTTP(w, r)
			return
		}
		// Still waiting for the client until its body is in.
		b := &bodyIn{ReadCloser: r.Body, l: l, c: c}
		r.Body = b
		h.ServeHTTP(w, r)
		if !b.done.Load() {
			// The handler left some of the body unread: the server reads
			// the rest (net/http discards up to 256 KiB) before it answers,
			// waiting for the client again, from now.
			l.wait(c)
		}
	})
	return l
}

// bodyIn marks its connection serving (in) once its body has been read to
// the end (or failed); done says it was.
type bodyIn struct {
	io.ReadCloser
	l    *connLimit
	c    net.Conn
	done atomic.Bool
}

func (b *bodyIn) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.in()
	}
	return n, err
}

// in marks the connection serving, the first time only.
func (b *bodyIn) in() {
	if b.done.CompareAndSwap(false, true) {
		b.l.serving(b.c)
	}
}

// connKey is the context key of a request's connection.
type connKey struct{}

type connLimit struct {
	net.Listener
	slots     chan struct{} // one per open connection
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	changed   chan struct{} // a connection started waiting (wakes a blocked Accept)

	now func() time.Time // the clock (tests set it)

	mu sync.Mutex
	// waiting holds when each waiting connection started to wait: new,
	// idle between two requests, or reading a request's headers (the same
	// grace for all).
	waiting map[net.Conn]time.Time
}

// Accept accepts a connection, then gives it a slot: a free one, or the one
// a waiting connection frees when it is closed for it, or else the first
// one that frees up. (Making room only once a connection has arrived: the
// server calls Accept again as soon as it returns, and must not close a
// connection for a client that has not come.)
func (l *connLimit) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, free: func() { <-l.slots }}, nil
		default:
		}
		closed, in := l.closeOldestWaiting(l.now())
		if closed {
			continue // its Close freed its slot
		}
		var (
			t     *time.Timer
			retry <-chan time.Time
		)
		if in > 0 {
			t = time.NewTimer(in)
			retry = t.C
		}
		got := false
		select {
		case l.slots <- struct{}{}:
			got = true
		case <-l.changed:
		case <-retry:
		case <-l.done:
		}
		if t != nil {
			t.Stop()
		}
		switch {
		case got:
			return &limitedConn{Conn: c, free: func() { <-l.slots }}, nil
		case isClosed(l.done):
			c.Close()
			return nil, net.ErrClosed
		}
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *connLimit) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// track records which connections are waiting (http.Server.ConnState): a
// new one, until its first request's handler starts (serving), and one
// idle between two requests, until its next request starts: from then on
// it is given waitGrace for the headers, as a new one is.
func (l *connLimit) track(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch s {
	case http.StateNew, http.StateIdle, http.StateActive:
		if s == http.StateActive {
			if _, ok := l.waiting[c]; !ok {
				return // already serving (HTTP/2: another stream)
			}
		}
		l.waitingLocked(c)
	default:
		delete(l.waiting, c)
	}
}

// wait records that c waits for its client from now (wakes a blocked
// Accept).
func (l *connLimit) wait(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waitingLocked(c)
}

func (l *connLimit) waitingLocked(c net.Conn) {
	l.waiting[c] = l.now()
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// serving records that a request's handler runs on c: it is not waiting
// until it is idle again.
func (l *connLimit) serving(c net.Conn) {
	l.mu.Lock()
	delete(l.waiting, c)
	l.mu.Unlock()
}

// closeOldestWaiting closes the connection waiting the longest of those
// that may be closed at now: those waiting (idle or not) for waitGrace or
// more. When there is none, in is how long until the first of the
// others may be (0: there is no waiting connection).
func (l *connLimit) closeOldestWaiting(now time.Time) (closed bool, in time.Duration) {
	l.mu.Lock()
	var (
		oldest net.Conn
		since  time.Time
	)
	for c, at := range l.waiting {
		if left := at.Add(waitGrace).Sub(now); left > 0 {
			if in == 0 || left < in {
				in = left
			}
			continue
		}
		if oldest == nil || at.Before(since) {
			oldest, since = c, at
		}
	}
	delete(l.waiting, oldest)
	l.mu.Unlock()
	if oldest == nil {
		return false, in
	}
	oldest.Close()
	return true, 0
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
