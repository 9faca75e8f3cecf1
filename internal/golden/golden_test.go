package golden_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/golden"
)

func TestScrubString(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", golden.JWT},
		{"eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJub25lIn0.e30."}, // unsigned: not a token we issue
		{"0192d2c4-5a1b-7c3d-8e4f-0123456789ab", golden.UUID},
		{"2026-06-01T08:00:00Z", golden.Time},
		{"2026-06-01T08:00:00.123456789+02:00", golden.Time},
		{"2026-06-01", "2026-06-01"},
		{"Bearer", "Bearer"},
		{"a.b.c", "a.b.c"},
		{"", ""},
	} {
		if got := golden.ScrubString(c.in); got != c.want {
			t.Errorf("ScrubString(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	got, err := golden.Normalize([]byte(`{"b":[{"id":"0192d2c4-5a1b-7c3d-8e4f-0123456789ab"}],"a":900,"t":"2026-06-01T08:00:00Z","x":"<&>"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"a\": 900,\n  \"b\": [\n    {\n      \"id\": \"<uuid>\"\n    }\n  ],\n  \"t\": \"<time>\",\n  \"x\": \"<&>\"\n}\n"
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []string{``, `{`, `{} {}`} {
		if _, err := golden.Normalize([]byte(bad)); err == nil {
			t.Errorf("Normalize(%q) succeeded", bad)
		}
	}
}

func TestAssert(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.json")
	if err := os.WriteFile(path, []byte("{\n  \"accessToken\": \"<jwt>\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, path, []byte(`{"accessToken":"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"}`))
}
