// Package golden compares HTTP response bodies with golden JSON files in a
// test's testdata/ directory (STYLE habit 9), after replacing the values
// that change from run to run: a string that is a JWT becomes "<jwt>", a
// UUID "<uuid>", an RFC 3339 time "<time>". Numbers are kept: with the
// injected clock of servertest, lifetimes such as expires_in are stable and
// worth pinning.
//
// Run the tests with -update to write the files instead of comparing:
//
//	go test ./httpapi/login/ -update
//
// The package registers the -update flag, so a test package that imports it
// must not define its own flag of that name.
package golden

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "write golden files instead of comparing with them")

// Placeholders that replace volatile strings.
const (
	JWT  = "<jwt>"
	UUID = "<uuid>"
	Time = "<time>"
)

var (
	// A compact JWS (RFC 7515 §7.1): three base64url parts, the header a
	// JSON object (so it starts with "eyJ", the encoding of `{"`).
	jwtRE  = regexp.MustCompile(`^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)
	uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// ScrubString returns the placeholder for s if s is volatile, else s.
func ScrubString(s string) string {
	switch {
	case jwtRE.MatchString(s):
		return JWT
	case uuidRE.MatchString(s):
		return UUID
	case len(s) >= len("2006-01-02T15:04:05Z") && s[4] == '-' && s[10] == 'T':
		if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return Time
		}
	}
	return s
}

// Scrub replaces the volatile strings in v, a value decoded from JSON into
// an any (maps, slices, strings, numbers, booleans, nil), and returns it.
// Maps and slices are changed in place.
func Scrub(v any) any {
	switch x := v.(type) {
	case string:
		return ScrubString(x)
	case map[string]any:
		for k, e := range x {
			x[k] = Scrub(e)
		}
	case []any:
		for i, e := range x {
			x[i] = Scrub(e)
		}
	}
	return v
}

// Normalize decodes body as JSON, scrubs it and encodes it again with sorted
// keys and two-space indentation, ending in a newline: the form of a golden
// file. Numbers keep their literal text.
func Normalize(body []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("golden: body is not JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("golden: data after the JSON value")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(Scrub(v)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Assert fails t unless Normalize(body) equals the file at path (relative to
// the test's package directory, usually "testdata/<name>.json"). With
// -update it writes the file, creating its directory, and passes.
func Assert(t testing.TB, path string, body []byte) {
	t.Helper()
	got, err := Normalize(body)
	if err != nil {
		t.Fatalf("%s: %v; body: %s", path, err, body)
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it); got:\n%s", err, got)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept)\n--- got\n%s--- want\n%s", path, got, want)
	}
}
