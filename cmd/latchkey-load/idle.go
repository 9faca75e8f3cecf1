package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// maxIdleConns bounds -idle-conns: each costs this process a file
// descriptor, and the server one too.
const maxIdleConns = 50_000

// idleFlood is -idle-conns: connections that each made one request
// (GET /healthz, keep-alive) and then stay open without another, as idle
// browsers, abandoned keep-alives or a slowloris-style attacker leave them,
// held through the measured run.
type idleFlood struct {
	conns    []net.Conn
	answered int // connections whose request was answered
}

// openIdle opens n connections to base, 256 at a time, each with one
// request; a connection whose answer does not come within 5 s (the server
// holds it unaccepted at its connection limit) is kept open all the same.
func openIdle(ctx context.Context, base string, n int) (*idleFlood, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	req := "GET /healthz HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: latchkey-load idle\r\n\r\n"
	f := &idleFlood{conns: make([]net.Conn, n)}
	var answered atomic.Int64
	var firstErr error
	var mu sync.Mutex
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	d := net.Dialer{Timeout: 5 * time.Second}
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := d.DialContext(ctx, "tcp", u.Host)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			f.conns[i] = c
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, req); err != nil {
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				answered.Add(1)
			}
			c.SetDeadline(time.Time{})
		}()
	}
	wg.Wait()
	f.answered = int(answered.Load())
	if f.opened() == 0 && firstErr != nil {
		return nil, fmt.Errorf("-idle-conns: %w", firstErr)
	}
	return f, nil
}

// stillOpen counts the connections the server has not closed: a read that
// times out finds the connection open, one that ends finds it closed.
func (f *idleFlood) stillOpen() int {
	open := 0
	buf := make([]byte, 1)
	for _, c := range f.conns {
		if c == nil {
			continue
		}
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := c.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			open++
		}
	}
	return open
}

func (f *idleFlood) close() {
	for _, c := range f.conns {
		if c != nil {
			c.Close()
		}
	}
}

// opened counts the connections that were dialled.
func (f *idleFlood) opened() int {
	n := 0
	for _, c := range f.conns {
		if c != nil {
			n++
		}
	}
	return n
}

func (f *idleFlood) report(w io.Writer, open int) {
	fmt.Fprintf(w, "idle connections: %d asked, %d opened, %d answered, %d still open after the run (the rest closed by the server)\n",
		len(f.conns), f.opened(), f.answered, open)
}
