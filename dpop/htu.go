package dpop

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// NormalizeHTU returns the form of an htu, or of a request URL, that
// RFC 9449 §4.3 point 9 compares: an absolute http or https URL without
// query and fragment, after the syntax- and scheme-based normalisation of
// RFC 3986 §6.2.2 and §6.2.3 (scheme and host lower-case, the scheme's
// default port dropped, percent-encodings upper-case and unreserved ones
// decoded, dot-segments removed, an empty path as "/"). User information is
// refused.
func NormalizeHTU(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", errors.New("not an http or https URL")
	}
	if u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", errors.New("not an absolute URL with a host")
	}
	host := strings.ToLower(u.Host)
	if h, port, err := net.SplitHostPort(host); err == nil {
		if port == "" || (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
			host = h
			if strings.Contains(h, ":") {
				host = "[" + h + "]"
			}
		}
	}
	p := normalizePercent(u.EscapedPath())
	if p == "" {
		p = "/"
	}
	p = removeDotSegments(p)
	return scheme + "://" + host + p, nil
}

// stripQuery returns raw without its query and fragment.
func stripQuery(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i]
	}
	return raw
}

// HTU returns the URL a proof sent with r must name. external, when not
// empty, is the base URL clients use for this handler (e.g.
// "https://auth.example.com" or, for a handler mounted under a prefix that
// was stripped from r.URL.Path, "https://example.com/auth"): its scheme,
// host and path come before r.URL.Path, so a proxy in front changes nothing.
// Without it the scheme follows r.TLS and the host is r.Host.
func HTU(r *http.Request, external string) string {
	path := r.URL.EscapedPath()
	if external != "" {
		return strings.TrimSuffix(stripQuery(external), "/") + path
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

// normalizePercent upper-cases the hex digits of percent-encodings and
// decodes those of unreserved characters (RFC 3986 §6.2.2.1, §6.2.2.2).
func normalizePercent(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
			c := unhex(p[i+1])<<4 | unhex(p[i+2])
			if isUnreserved(c) {
				b.WriteByte(c)
			} else {
				b.WriteByte('%')
				b.WriteString(strings.ToUpper(p[i+1 : i+3]))
			}
			i += 2
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// removeDotSegments is RFC 3986 §5.2.4 for an absolute path.
func removeDotSegments(p string) string {
	if !strings.Contains(p, ".") {
		return p
	}
	segs := strings.Split(p[1:], "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// headerKey is "DPoP" as http.Header stores it (CanonicalHeaderKey):
// indexing with it directly spares every request the canonicalisation,
// which allocates for a name that is not in canonical form.
const headerKey = "Dpop"

// FromHeader returns the request's DPoP header ("" when absent); more than
// one is an *Error of ReasonMultiple (RFC 9449 §4.3 point 1).
func FromHeader(h http.Header) (string, error) {
	v := h[headerKey]
	switch len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	}
	return "", fail(ReasonMultiple, "")
}
