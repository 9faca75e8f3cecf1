package config

import (
	"fmt"
	"slices"
	"strings"
)

// The dialect names DIALECTS accepts. Each switches on one HTTP adapter
// (SPEC §4).
const (
	// DialectCanonical is Latchkey's own camelCase JSON API (/auth/*, /token).
	DialectCanonical = "canonical"
	// DialectOAuth2 is RFC 6749 /oauth/token, RFC 7009 revocation, RFC 7662
	// introspection and RFC 8414 metadata.
	DialectOAuth2 = "oauth2"
	// DialectLogin is the aurelia-authentication login-URL refresh
	// (/auth/login with grant_type=refresh_token).
	DialectLogin = "login"
	// DialectCookie is the HttpOnly refresh cookie and
	// /api/refresh/refreshtoken.
	DialectCookie = "cookie"
	// DialectFeathers is FeathersJS /authentication.
	DialectFeathers = "feathers"
)

// AllDialects returns every dialect name in the canonical order.
func AllDialects() []string {
	return []string{DialectCanonical, DialectOAuth2, DialectLogin, DialectCookie, DialectFeathers}
}

// Dialects is the set of enabled dialects, kept in the order of AllDialects.
// It reads a comma-separated list of names, "all" or "none"; an empty value
// is refused as ambiguous (write "none" to switch every dialect off).
type Dialects []string

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Dialects) UnmarshalText(text []byte) error {
	s := strings.ToLower(strings.TrimSpace(string(text)))
	switch s {
	case "":
		return fmt.Errorf("empty dialect list: name dialects (%s), or write all or none", strings.Join(AllDialects(), ","))
	case "all":
		*d = AllDialects()
		return nil
	case "none":
		*d = Dialects{}
		return nil
	}
	seen := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if name == "all" || name == "none" {
			return fmt.Errorf("invalid dialect list %q: %s cannot be combined with other names", text, name)
		}
		if !slices.Contains(AllDialects(), name) {
			return fmt.Errorf("unknown dialect %q: want some of %s, or all or none", name, strings.Join(AllDialects(), ","))
		}
		seen[name] = true
	}
	out := Dialects{}
	for _, name := range AllDialects() {
		if seen[name] {
			out = append(out, name)
		}
	}
	*d = out
	return nil
}

// String returns the comma-separated names, or "none".
func (d Dialects) String() string {
	if len(d) == 0 {
		return "none"
	}
	return strings.Join(d, ",")
}

// MarshalText implements encoding.TextMarshaler.
func (d Dialects) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
