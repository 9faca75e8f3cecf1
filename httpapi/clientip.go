package httpapi

import (
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP finds the address of the client a request came from, for rate
// limits and session records.
//
// Without trusted proxies it is the address of the connection. When the
// connection comes from a trusted proxy, X-Forwarded-For is read from the
// right: each proxy appends the address it received the request from, so
// the right-most entries were written by our own proxies and the left-most
// by whoever sent the request, possibly an attacker. The client is the
// right-most address that is not a trusted proxy; anything to its left is
// ignored, so a client cannot choose its address by sending its own
// X-Forwarded-For. A malformed entry met before that address means the
// chain cannot be trusted, and the connection's address is used instead.
//
// The zero value trusts no proxy.
type ClientIP struct {
	// Trusted lists the proxies whose X-Forwarded-For is believed
	// (TRUSTED_PROXIES, parsed by config.Prefixes). Single addresses are /32
	// or /128 prefixes.
	Trusted []netip.Prefix
}

// Of returns the client's address, or the zero netip.Addr when the
// connection's address is unknown (a Unix socket, a test request with an
// unparseable RemoteAddr). IPv4-mapped IPv6 addresses are unmapped and
// zones dropped, so one client always has one spelling.
func (c ClientIP) Of(r *http.Request) netip.Addr {
	conn := parseAddr(r.RemoteAddr)
	if !conn.IsValid() || !c.trusted(conn) {
		return conn
	}
	// Several X-Forwarded-For lines form one list, in order (RFC 9110 §5.3).
	lines := r.Header.Values("X-Forwarded-For")
	var leftmost netip.Addr
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		for line != "" {
			var entry string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				entry, line = line[j+1:], line[:j]
			} else {
				entry, line = line, ""
			}
			addr := parseAddr(strings.TrimSpace(entry))
			if !addr.IsValid() {
				return conn
			}
			if !c.trusted(addr) {
				return addr
			}
			leftmost = addr
		}
	}
	if leftmost.IsValid() {
		// Every hop is one of our proxies: the request started inside.
		return leftmost
	}
	return conn
}

// UndeclaredProxy returns the connection's address when r carries a
// forwarding header (X-Forwarded-For, Forwarded, X-Real-IP) but comes from an
// address Trusted does not list: a proxy nobody declared (then every client
// behind it has its address), or a client forging the header. Which of the
// two cannot be told here; the caller may say so to the operator.
func (c ClientIP) UndeclaredProxy(r *http.Request) (netip.Addr, bool) {
	h := r.Header
	if h.Get("X-Forwarded-For") == "" && h.Get("Forwarded") == "" && h.Get("X-Real-IP") == "" {
		return netip.Addr{}, false
	}
	conn := parseAddr(r.RemoteAddr)
	return conn, conn.IsValid() && !c.trusted(conn)
}

func (c ClientIP) trusted(a netip.Addr) bool {
	for _, p := range c.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddr reads "addr", "addr:port" or "[addr]:port", as found in
// RemoteAddr and (from some proxies) X-Forwarded-For. It returns the zero
// Addr when s is none of these.
func parseAddr(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone("")
}
