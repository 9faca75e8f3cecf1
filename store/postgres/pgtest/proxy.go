package pgtest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy is a TCP proxy on the loopback between a client under test and a
// PostgreSQL server, which a test cuts and restores to simulate an outage.
// It is safe for concurrent use. Start one with NewProxy; it stops when the
// test ends.
//
// Its states:
//   - forwarding (the start, and after Restore): every byte is relayed;
//   - cut (Cut): the connections it relays are closed, and new ones are
//     closed as soon as they are accepted, the way a stopped or restarting
//     server looks to a client (EOF, connection reset);
//   - blackholed (Blackhole): connections stay open but nothing arrives,
//     either way, the way a network partition or a hung server looks (the
//     client waits until a deadline of its own ends the wait).
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	state proxyState
	conns map[*link]struct{}
	wg    sync.WaitGroup
}

type proxyState int

const (
	forwarding proxyState = iota
	cut
	blackholed
)

// link is one relayed connection: the client's and the server's ends (none
// for a connection accepted while blackholed).
type link struct {
	client, server net.Conn
	once           sync.Once
}

func (l *link) close() {
	l.once.Do(func() {
		l.client.Close()
		if l.server != nil {
			l.server.Close()
		}
	})
}

// NewProxy listens on 127.0.0.1:0 and relays to target (host:port).
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// ProxyURL starts a Proxy to the server of the postgres:// URL dbURL and
// returns the proxy and dbURL rewritten to connect through it.
func ProxyURL(t testing.TB, dbURL string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: proxy: %v", err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	p := NewProxy(t, target)
	u.Host = p.Addr()
	return p, u.String()
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every relayed connection and closes new ones at once, until
// Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = cut
	for l := range p.conns {
		l.close()
	}
}

// Blackhole stops relaying without closing anything: bytes sent either way,
// on existing and new connections, are dropped. Restore closes the
// connections that were blackholed (their streams have lost bytes).
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = blackholed
}

// Restore relays new connections again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == blackholed {
		for l := range p.conns {
			l.close()
		}
	}
	p.state = forwarding
}

func (p *Proxy) close() {
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		state := p.state
		p.mu.Unlock()
		switch state {
		case cut:
			c.Close()
			continue
		case blackholed:
			// Hold the connection open and read nothing from it; Restore
			// or the end of the test closes it.
			l := &link{client: c}
			if !p.track(l) {
				continue
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				io.Copy(io.Discard, c)
				p.untrack(l)
			}()
			continue
		}
		p.wg.Add(1)
		go p.relay(c)
	}
}

// track registers l unless the proxy was cut meanwhile; then it closes l.
func (p *Proxy) track(l *link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == cut {
		l.close()
		return false
	}
	p.conns[l] = struct{}{}
	return true
}

func (p *Proxy) untrack(l *link) {
	l.close()
	p.mu.Lock()
	delete(p.conns, l)
	p.mu.Unlock()
}

func (p *Proxy) relay(c net.Conn) {
	defer p.wg.Done()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	l := &link{client: c, server: s}
	if !p.track(l) {
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(s, c); l.close() }()
	go func() { defer wg.Done(); p.pipe(c, s); l.close() }()
	wg.Wait()
	p.untrack(l)
}

// pipe copies src to dst until either fails, dropping what it reads while
// the proxy is blackholed.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			drop := p.state == blackholed
			p.mu.Unlock()
			if !drop {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}
