package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"90m", 90 * time.Minute},
		{"24h", 24 * time.Hour},
		{"1d", 24 * time.Hour},
		{"30d", 30 * 24 * time.Hour},
		{"2w", 14 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1h30m", 90 * time.Minute},
		{"10s", 10 * time.Second},
		{"250ms", 250 * time.Millisecond},
		{"0", 0},
		{"0s", 0},
		{" 15m ", 15 * time.Minute},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDurationRejects(t *testing.T) {
	tests := []struct {
		in, why string
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"abc", "want a non-negative time span"},
		{"-1h", "negative"},
		{"-0s", "negative"},
		{"10", "want"},        // a unit is required, as in Go
		{"1y", "want"},        // years are not a fixed span
		{"1d 12h", "want"},    // no inner space
		{"99999999w", "want"}, // overflows time.Duration
		{"1h-5m", "want"},
	}
	for _, tt := range tests {
		_, err := ParseDuration(tt.in)
		if err == nil {
			t.Errorf("ParseDuration(%q) succeeded; want an error", tt.in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "invalid duration") || !strings.Contains(msg, tt.why) {
			t.Errorf("ParseDuration(%q) error %q; want it to say invalid duration and %q", tt.in, msg, tt.why)
		}
	}
}

func TestDurationText(t *testing.T) {
	tests := []struct {
		in, out string
	}{
		{"720h", "720h"},
		{"30d", "720h"},
		{"1d12h", "36h"},
		{"90m", "1h30m"},
		{"15m", "15m"},
		{"10s", "10s"},
		{"1m30s", "1m30s"},
		{"0", "0s"},
		{"1500ms", "1.5s"},
	}
	for _, tt := range tests {
		var d Duration
		if err := d.UnmarshalText([]byte(tt.in)); err != nil {
			t.Fatalf("UnmarshalText(%q): %v", tt.in, err)
		}
		b, _ := d.MarshalText()
		if string(b) != tt.out {
			t.Errorf("%q marshals as %q; want %q", tt.in, b, tt.out)
		}
		// What is written must read back, by us and by the standard library.
		back, err := time.ParseDuration(string(b))
		if err != nil || back != d.D() {
			t.Errorf("time.ParseDuration(%q) = %v, %v; want %v", b, back, err, d.D())
		}
	}
}
