package config

import (
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParseDuration checks ParseDuration against an independent reference:
// it never panics, never returns a negative value, agrees with
// time.ParseDuration wherever that accepts the input, computes d and w
// spans exactly (no silent overflow or rounding), and writes back what it
// reads. The seed corpus is in
// testdata/fuzz/FuzzParseDuration.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90m", "24h", "1d", "30d", "2w", "1d12h", "0", " 15m ", "-1h", "+1h", "1.5d", ".5w",
		"99999999w", "15250w", "15251w", "106751d", "106752d", "2562047h47m16.854775807s", "9223372036854775807ns",
		"1e3s", "1d-1h", "\xff", "1µs", "1us", "0.000000001ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, "invalid duration") {
				t.Fatalf("error %q does not say invalid duration", msg)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v: negative", s, d)
		}
		if std, err := time.ParseDuration(strings.TrimSpace(s)); err == nil && std != d {
			t.Fatalf("ParseDuration(%q) = %v, time.ParseDuration says %v", s, d, std)
		}
		if ref, ok := refDuration(s); ok && (ref == nil || !ref.IsInt64() || ref.Int64() != int64(d)) {
			t.Fatalf("ParseDuration(%q) = %d ns, exact value is %v ns (overflow or rounding)", s, int64(d), ref)
		}
		text := Duration(d).String()
		back, err := ParseDuration(text)
		if err != nil || back != d {
			t.Fatalf("%q -> %v -> %q -> %v, %v: does not read back", s, d, text, back, err)
		}
	})
}

var refTerm = regexp.MustCompile(`^([0-9]+)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h|d|w)`)

var refUnits = map[string]int64{"ns": 1, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9,
	"d": 86400e9, "w": 7 * 86400e9}

// refDuration computes the exact nanoseconds of a span of unsigned integer
// terms such as "1d12h" or "1.5h" with big integers (fractions truncated
// towards zero per term, as time.ParseDuration does). ok is false for any
// other syntax, which the reference does not judge.
func refDuration(s string) (*big.Int, bool) {
	t := strings.TrimSpace(s)
	if t == "" || !utf8.ValidString(t) || t == "0" {
		return big.NewInt(0), t == "0"
	}
	sum := new(big.Int)
	for t != "" {
		m := refTerm.FindStringSubmatch(t)
		if m == nil {
			return nil, false
		}
		if m[1] == "" && m[2] == "" {
			return nil, false
		}
		unit := big.NewInt(refUnits[m[3]])
		whole, _ := new(big.Int).SetString(m[1], 10)
		sum.Add(sum, whole.Mul(whole, unit))
		if frac := m[2]; frac != "" {
			num, _ := new(big.Int).SetString(frac, 10)
			den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
			sum.Add(sum, num.Mul(num, unit).Quo(num, den))
		}
		t = t[len(m[0]):]
	}
	return sum, true
}
