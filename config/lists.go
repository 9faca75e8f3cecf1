package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// splitList splits a comma-separated value, trimming space and dropping
// empty items, so "" and " , " are both the empty list.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Origins is a list of web origins (RFC 6454 §6.2: scheme://host[:port]),
// read from a comma-separated value. Each is normalised to lower case, and a
// single trailing slash is dropped, so that it compares equal to the Origin
// header a browser sends.
type Origins []string

// UnmarshalText implements encoding.TextUnmarshaler.
func (o *Origins) UnmarshalText(text []byte) error {
	out := Origins{}
	for _, item := range splitList(string(text)) {
		origin, err := parseOrigin(item)
		if err != nil {
			return err
		}
		out = append(out, origin)
	}
	*o = out
	return nil
}

// String returns the comma-separated origins.
func (o Origins) String() string { return strings.Join(o, ",") }

// MarshalText implements encoding.TextMarshaler.
func (o Origins) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// parseOrigin checks and normalises one origin.
func parseOrigin(s string) (string, error) {
	const want = "want scheme://host[:port], such as https://app.example.com"
	if s == "*" {
		return "", fmt.Errorf("invalid origin %q: wildcards are not allowed (the cookie dialect relies on a list of exact origins); %s", s, want)
	}
	u, err := url.Parse(strings.TrimSuffix(s, "/"))
	if err != nil {
		return "", fmt.Errorf("invalid origin %q: %s", s, want)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("invalid origin %q: scheme must be http or https; %s", s, want)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("invalid origin %q: no host; %s", s, want)
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("invalid origin %q: an origin has no user, path, query or fragment; %s", s, want)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// Prefixes is a list of IP networks read from comma-separated addresses and
// CIDR blocks ("10.0.0.0/8, 192.0.2.7, fd00::/8"); a bare address becomes a
// single-address prefix (/32 or /128).
type Prefixes []netip.Prefix

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Prefixes) UnmarshalText(text []byte) error {
	out := Prefixes{}
	for _, item := range splitList(string(text)) {
		prefix, err := parsePrefix(item)
		if err != nil {
			return err
		}
		out = append(out, prefix)
	}
	*p = out
	return nil
}

// String returns the comma-separated prefixes.
func (p Prefixes) String() string {
	items := make([]string, len(p))
	for i, prefix := range p {
		items[i] = prefix.String()
	}
	return strings.Join(items, ",")
}

// MarshalText implements encoding.TextMarshaler.
func (p Prefixes) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

func parsePrefix(s string) (netip.Prefix, error) {
	const want = "want an IP address or a CIDR block such as 10.0.0.0/8"
	if strings.Contains(s, "/") {
		prefix, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid proxy network %q: %s", s, want)
		}
		// 10.1.2.3/8 is accepted as 10.0.0.0/8: the host bits carry no meaning.
		return prefix.Masked(), nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid proxy address %q: %s", s, want)
	}
	addr = addr.Unmap().WithZone("")
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}
