package config

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey"
)

func TestSwitch(t *testing.T) {
	for _, in := range []string{"on", "ON", "true", "1", "yes", "Yes", " on "} {
		var s Switch
		if err := s.UnmarshalText([]byte(in)); err != nil || !s.On() {
			t.Errorf("Switch(%q) = %v, %v; want on", in, s, err)
		}
	}
	for _, in := range []string{"off", "false", "0", "no", "NO"} {
		s := Switch(true)
		if err := s.UnmarshalText([]byte(in)); err != nil || s.On() {
			t.Errorf("Switch(%q) = %v, %v; want off", in, s, err)
		}
	}
	for _, in := range []string{"", "maybe", "enabled", "2"} {
		var s Switch
		if err := s.UnmarshalText([]byte(in)); err == nil || !strings.Contains(err.Error(), "want on or off") {
			t.Errorf("Switch(%q): error %v; want a want-on-or-off error", in, err)
		}
	}
}

func TestRate(t *testing.T) {
	tests := []struct {
		in    string
		count int
		per   time.Duration
		out   string
	}{
		{"10/15m", 10, 15 * time.Minute, "10/15m"},
		{"6000/1m", 6000, time.Minute, "6000/1m"},
		{"100/1d", 100, 24 * time.Hour, "100/24h"},
		{" 5 / 1h ", 5, time.Hour, "5/1h"},
	}
	for _, tt := range tests {
		var r Rate
		if err := r.UnmarshalText([]byte(tt.in)); err != nil {
			t.Errorf("Rate(%q): %v", tt.in, err)
			continue
		}
		if r.Count != tt.count || r.Per != tt.per || r.String() != tt.out {
			t.Errorf("Rate(%q) = %d per %v (%q); want %d per %v (%q)", tt.in, r.Count, r.Per, r, tt.count, tt.per, tt.out)
		}
	}
	for _, in := range []string{"", "10", "10/", "/1m", "ten/1m", "0/1m", "-1/1m", "10/0s", "10/-1m", "10/abc", "1.5/1m"} {
		var r Rate
		if err := r.UnmarshalText([]byte(in)); err == nil || !strings.Contains(err.Error(), "invalid rate") {
			t.Errorf("Rate(%q): error %v; want an invalid-rate error", in, err)
		}
	}
}

func TestDialects(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"all", latchkey.AllDialects()},
		{"ALL", latchkey.AllDialects()},
		{"none", []string{}},
		{"canonical,oauth2,login,cookie,feathers", latchkey.AllDialects()},
		{"oauth2", []string{latchkey.OAuth2}},
		{"feathers, canonical", []string{latchkey.Canonical, latchkey.Feathers}}, // canonical order
		{"cookie,cookie,", []string{latchkey.Cookie}},
	}
	for _, tt := range tests {
		var d Dialects
		if err := d.UnmarshalText([]byte(tt.in)); err != nil {
			t.Errorf("Dialects(%q): %v", tt.in, err)
			continue
		}
		if !slices.Equal(d, tt.want) {
			t.Errorf("Dialects(%q) = %v; want %v", tt.in, d, tt.want)
		}
	}
	for _, tt := range []struct{ in, why string }{
		{"", "empty"},
		{"oauth", `unknown dialect "oauth"`},
		{"canonical,grpc", `unknown dialect "grpc"`},
		{"all,oauth2", "cannot be combined"},
		{"none,cookie", "cannot be combined"},
	} {
		var d Dialects
		if err := d.UnmarshalText([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("Dialects(%q): error %v; want one containing %q", tt.in, err, tt.why)
		}
	}
	if got := (Dialects{}).String(); got != "none" {
		t.Errorf("empty Dialects prints %q; want none", got)
	}
}

func TestOrigins(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", []string{}},
		{" , ", []string{}},
		{"https://app.example.com", []string{"https://app.example.com"}},
		{"https://App.Example.COM/, http://localhost:3000", []string{"https://app.example.com", "http://localhost:3000"}},
		{"http://[::1]:8080", []string{"http://[::1]:8080"}},
	}
	for _, tt := range tests {
		var o Origins
		if err := o.UnmarshalText([]byte(tt.in)); err != nil {
			t.Errorf("Origins(%q): %v", tt.in, err)
			continue
		}
		if !slices.Equal(o, tt.want) {
			t.Errorf("Origins(%q) = %q; want %q", tt.in, o, tt.want)
		}
	}
	for _, in := range []string{"*", "app.example.com", "ftp://example.com", "https://", "https://example.com/app", "https://example.com?x=1", "https://u:p@example.com", "https://example.com#f"} {
		var o Origins
		if err := o.UnmarshalText([]byte(in)); err == nil || !strings.Contains(err.Error(), "invalid origin") {
			t.Errorf("Origins(%q): error %v; want an invalid-origin error", in, err)
		}
	}
}

func TestPrefixes(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}},
		{"192.0.2.7, 2001:db8::/32", []string{"192.0.2.7/32", "2001:db8::/32"}},
		{"::1", []string{"::1/128"}},
		{"::ffff:192.0.2.7", []string{"192.0.2.7/32"}},
		{"fe80::1%eth0", []string{"fe80::1/128"}},
	}
	for _, tt := range tests {
		var p Prefixes
		if err := p.UnmarshalText([]byte(tt.in)); err != nil {
			t.Errorf("Prefixes(%q): %v", tt.in, err)
			continue
		}
		var got []string
		for _, prefix := range p {
			got = append(got, prefix.String())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Prefixes(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
	for _, in := range []string{"10.0.0.0/33", "localhost", "10.0.0", "10.0.0.0/8/8", "1.2.3.4:80"} {
		var p Prefixes
		if err := p.UnmarshalText([]byte(in)); err == nil || !strings.Contains(err.Error(), "invalid proxy") {
			t.Errorf("Prefixes(%q): error %v; want an invalid-proxy error", in, err)
		}
	}
}
