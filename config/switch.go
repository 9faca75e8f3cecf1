package config

import (
	"fmt"
	"strings"

	"github.com/alecthomas/kong"
)

// Switch is an on/off setting. It reads on/off, true/false, 1/0 and yes/no
// (any case) and is written as "on" or "off". As a flag it behaves like a
// kong bool flag: --rate-limits alone switches on, --rate-limits=off off.
type Switch bool

// On reports whether the switch is on.
func (s Switch) On() bool { return bool(s) }

// String returns "on" or "off".
func (s Switch) String() string {
	if s {
		return "on"
	}
	return "off"
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Switch) UnmarshalText(text []byte) error {
	switch strings.ToLower(strings.TrimSpace(string(text))) {
	case "on", "true", "1", "yes":
		*s = true
	case "off", "false", "0", "no":
		*s = false
	default:
		return fmt.Errorf("invalid switch %q: want on or off (also true/false, 1/0, yes/no)", text)
	}
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (s Switch) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Decode implements kong.MapperValue: a flag without a value switches on, a
// flag with one (--rate-limits=off) or a variable is read by UnmarshalText.
func (s *Switch) Decode(ctx *kong.DecodeContext) error {
	if ctx.Scan.Peek().Type != kong.FlagValueToken {
		*s = true
		return nil
	}
	switch v := ctx.Scan.Pop().Value.(type) {
	case string:
		return s.UnmarshalText([]byte(v))
	case bool:
		*s = Switch(v)
		return nil
	default:
		return fmt.Errorf("invalid switch %v (%T): want on or off", v, v)
	}
}

// IsBool implements kong.BoolMapperValue, so a bare flag needs no value.
func (Switch) IsBool() bool { return true }
