package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/latchkey-dev/latchkey"
)

// Dialects is the set of enabled dialects, named as latchkey.AllDialects()
// names them and kept in that order.
// It reads a comma-separated list of names, "all" or "none"; an empty value
// is refused as ambiguous (write "none" to switch every dialect off).
type Dialects []string

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Dialects) UnmarshalText(text []byte) error {
	s := strings.ToLower(strings.TrimSpace(string(text)))
	switch s {
	case "":
		return fmt.Errorf("empty dialect list: name dialects (%s), or write all or none", strings.Join(latchkey.AllDialects(), ","))
	case "all":
		*d = slices.Clone(latchkey.AllDialects())
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
		if !slices.Contains(latchkey.AllDialects(), name) {
			return fmt.Errorf("unknown dialect %q: want some of %s, or all or none", name, strings.Join(latchkey.AllDialects(), ","))
		}
		seen[name] = true
	}
	out := Dialects{}
	for _, name := range latchkey.AllDialects() {
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
