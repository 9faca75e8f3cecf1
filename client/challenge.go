package client

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// expiredAt reports whether the access token has expired by the clock of
// the target whose answer has header h: its exp claim (RFC 7519 §4.1.4;
// Latchkey's access tokens are JWTs) is not after the answer's Date (RFC
// 9110 §6.6.1). False when either is missing or unreadable.
func expiredAt(accessToken string, h http.Header) bool {
	date, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return false
	}
	parts := strings.Split(accessToken, ".")
	if len(parts) != 3 {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		Exp *int64 `json:"exp"`
	}
	if json.Unmarshal(raw, &claims) != nil || claims.Exp == nil {
		return false
	}
	return !time.Unix(*claims.Exp, 0).After(date)
}

// challengeError returns the error parameter of the challenge of scheme
// (Bearer, RFC 6750 §3; DPoP, RFC 9449 §7.1) in h's WWW-Authenticate, e.g.
// "invalid_token", or "" when there is none.
//
// A WWW-Authenticate field holds one or more challenges, each a scheme
// followed by comma-separated name=value parameters, the value a token or
// a quoted string (RFC 9110 §11.6.1); several fields add up. Other schemes,
// and a token68 in place of parameters, are skipped.
func challengeError(h http.Header, scheme string) string {
	for _, v := range h.Values("WWW-Authenticate") {
		p := challengeParser{s: v}
		in := false
		for {
			name, value, isParam, ok := p.next()
			if !ok {
				break
			}
			switch {
			case !isParam:
				in = strings.EqualFold(name, scheme)
			case in && strings.EqualFold(name, "error"):
				return value
			}
		}
	}
	return ""
}

// challengeParser reads a WWW-Authenticate field one item at a time: a
// scheme, or a parameter of the scheme before it.
type challengeParser struct {
	s string
	i int
}

// next returns the next scheme (isParam false) or parameter, and false at
// the end.
func (p *challengeParser) next() (name, value string, isParam, ok bool) {
	for p.i < len(p.s) {
		p.skip(" \t,")
		name = p.token()
		if name == "" {
			if p.i < len(p.s) {
				p.i++ // not a token character: skip it
			}
			continue
		}
		p.skip(" \t")
		if p.i < len(p.s) && p.s[p.i] == '=' {
			p.i++
			p.skip(" \t")
			if p.i < len(p.s) && p.s[p.i] == '"' {
				return name, p.quoted(), true, true
			}
			return name, p.token(), true, true
		}
		return name, "", false, true
	}
	return "", "", false, false
}

func (p *challengeParser) skip(chars string) {
	for p.i < len(p.s) && strings.IndexByte(chars, p.s[p.i]) >= 0 {
		p.i++
	}
}

// token reads a token (RFC 9110 §5.6.2).
func (p *challengeParser) token() string {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted string (RFC 9110 §5.6.4) from its opening quote,
// and returns its content with escapes undone.
func (p *challengeParser) quoted() string {
	var b strings.Builder
	for p.i++; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; c {
		case '"':
			p.i++
			return b.String()
		case '\\':
			if p.i+1 < len(p.s) {
				p.i++
				b.WriteByte(p.s[p.i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
