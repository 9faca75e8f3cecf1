package ssf

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Push requests go to URLs that receivers choose, so they are a server-side
// request forgery risk: a stream could aim Latchkey at a cloud metadata
// service (169.254.169.254) or at a service on its own loopback interface.
// Receivers are registered by the operator and authenticated, which limits
// who can try; on top of that the push policy is:
//
//   - http and https URLs only, without user information or fragment;
//   - never link-local (169.254.0.0/16, fe80::/10: metadata services),
//     unspecified or multicast addresses, nor the metadata and platform
//     services of clouds that live elsewhere (metadataPrefixes), nor an
//     IPv6 address that embeds a forbidden IPv4 one (embeddedIPv4);
//   - loopback only when allowed (development, or SSF_PUSH_LOOPBACK=on);
//   - the check runs on the address actually dialled, after DNS
//     resolution, so a name that resolves (or re-resolves) to a forbidden
//     address is refused too;
//   - redirects are not followed, and no proxy from the environment is
//     used (the proxy's address would be checked instead of the target's).
//
// Private addresses (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed:
// the receivers are usually the operator's own APIs on an internal network.

// checkPushURL checks a stream's endpoint_url before it is stored.
func checkPushURL(raw string, allowLoopback bool) error {
	if len(raw) > maxURILength {
		return fmt.Errorf("longer than %d bytes", maxURILength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("the scheme must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("the URL has no host")
	case u.User != nil:
		return errors.New("user information in the URL is not allowed (use authorization_header)")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("a fragment is not allowed")
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		if !allowLoopback {
			return errors.New("pushing to a loopback address is not allowed here")
		}
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return checkPushAddr(ip, allowLoopback)
	}
	return nil
}

// metadataPrefixes are cloud metadata and platform services outside the
// link-local ranges: AWS's IPv6 instance metadata and its neighbours
// (fd00:ec2::254, ::23, ...: a unique local prefix, which private networks
// otherwise use), Alibaba Cloud's metadata service, Azure's WireServer and
// Oracle Cloud's legacy metadata address.
var metadataPrefixes = []netip.Prefix{
	netip.MustParsePrefix("fd00:ec2::/64"),
	netip.MustParsePrefix("100.100.100.200/32"),
	netip.MustParsePrefix("168.63.129.16/32"),
	netip.MustParsePrefix("192.0.0.192/32"),
}

// checkPushAddr applies the push policy to an address.
func checkPushAddr(ip netip.Addr, allowLoopback bool) error {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		if !allowLoopback {
			return fmt.Errorf("%s is a loopback address: pushing there is not allowed here", ip)
		}
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return fmt.Errorf("%s is a link-local address (cloud metadata services live there): never pushed to", ip)
	case ip.IsUnspecified(), ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return fmt.Errorf("%s cannot receive pushes", ip)
	}
	for _, p := range metadataPrefixes {
		if p.Contains(ip) {
			return fmt.Errorf("%s is a cloud metadata or platform address: never pushed to", ip)
		}
	}
	if v4, ok := embeddedIPv4(ip); ok {
		if err := checkPushAddr(v4, allowLoopback); err != nil {
			return fmt.Errorf("%s carries %s: %w", ip, v4, err)
		}
	}
	return nil
}

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// embeddedIPv4 returns the IPv4 address an IPv6 address stands for where a
// host, a NAT64 gateway or a 6to4 relay may turn it into one: IPv4-compatible
// (::a.b.c.d, RFC 4291 §2.5.5.1), the NAT64 well-known prefix
// (64:ff9b::/96, RFC 6052 §2.1) and 6to4 (2002:AABB:CCDD::/48, RFC 3056
// §2). (IPv4-mapped addresses are unmapped before.)
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case [12]byte(b[:12]) == [12]byte{} && !ip.IsLoopback() && !ip.IsUnspecified():
		return netip.AddrFrom4([4]byte(b[12:])), true
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:])), true
	case b[0] == 0x20 && b[1] == 0x02:
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// pushClient returns the HTTP client pushes go through: its dialer applies
// the push policy to every address it connects to, it follows no redirect,
// and a push gives up after timeout.
func pushClient(allowLoopback bool, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("ssf: push to %q: not an IP address", host)
			}
			return checkPushAddr(ip, allowLoopback)
		}}
	tr := &http.Transport{Proxy: nil, DialContext: d.DialContext, ForceAttemptHTTP2: true,
		MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: timeout,
		ResponseHeaderTimeout: timeout}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
