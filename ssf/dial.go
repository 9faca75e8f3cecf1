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
//     unspecified or multicast addresses;
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
	return nil
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
