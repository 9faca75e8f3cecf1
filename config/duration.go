package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/xhit/go-str2duration/v2"
)

// durationSyntax is appended to every duration error so that the operator
// learns the accepted form from the message alone.
const durationSyntax = "want a non-negative time span such as 90m, 24h, 1d, 30d, 2w or 1d12h (units: ns, us, ms, s, m, h, d, w)"

// ParseDuration parses a time span: a Go duration (time.ParseDuration) that
// may also use d (24h) and w (7d) units, such as "90m", "24h", "30d", "2w"
// or "1d12h". Surrounding space is ignored. Empty and negative values are
// rejected, so are values that overflow time.Duration (about 292 years).
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("invalid duration %q: empty; %s", s, durationSyntax)
	}
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("invalid duration %q: negative; %s", s, durationSyntax)
	}
	d, err := str2duration.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %s", s, durationSyntax)
	}
	if d < 0 { // "+" prefix with an overflowing value, defensively
		return 0, fmt.Errorf("invalid duration %q: negative; %s", s, durationSyntax)
	}
	return d, nil
}

// Duration is a time.Duration read from a setting with ParseDuration and
// written back in Go syntax without zero components ("720h", "1h30m", "10s"),
// which both ParseDuration and time.ParseDuration read back.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d as MarshalText does.
func (d Duration) String() string { return formatDuration(time.Duration(d)) }

// UnmarshalText implements encoding.TextUnmarshaler (kong uses it for flags
// and environment variables).
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// formatDuration is time.Duration.String without the trailing zero minutes
// and seconds: 720h0m0s becomes 720h, 1h30m0s becomes 1h30m.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
