package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a rate limit written "N/duration": at most Count events per Per,
// for example "10/15m" (ten per quarter of an hour) or "6000/1m". Per takes
// the duration syntax of ParseDuration, so "100/1d" works too. Both parts
// must be positive; RATE_LIMITS=off is the way to switch limits off.
type Rate struct {
	Count int
	Per   time.Duration
}

// String formats r as "N/duration".
func (r Rate) String() string {
	return strconv.Itoa(r.Count) + "/" + formatDuration(r.Per)
}

// Valid reports why r cannot be used, or nil.
func (r Rate) Valid() error {
	if r.Count <= 0 {
		return fmt.Errorf("invalid rate %q: the count must be at least 1", r.String())
	}
	if r.Per <= 0 {
		return fmt.Errorf("invalid rate %q: the period must be greater than 0", r.String())
	}
	return nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Rate) UnmarshalText(text []byte) error {
	const want = "want N/duration such as 10/15m or 6000/1m"
	s := strings.TrimSpace(string(text))
	count, per, ok := strings.Cut(s, "/")
	if !ok {
		return fmt.Errorf("invalid rate %q: %s", text, want)
	}
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil {
		return fmt.Errorf("invalid rate %q: count %q is not a whole number; %s", text, count, want)
	}
	d, err := ParseDuration(per)
	if err != nil {
		return fmt.Errorf("invalid rate %q: %w", text, err)
	}
	v := Rate{Count: n, Per: d}
	if err := v.Valid(); err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }
