package feathers_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/latchkey-dev/latchkey/server/servertest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var (
	jwtRE  = regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)
	uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// placeholders replaces the values that differ from run to run with
// numbered placeholders: a value seen twice gets the same one, so a golden
// file still shows that accessToken and authentication.accessToken are the
// same token, and that payload.sub is user.id. Times and iat/exp are not
// volatile here: servertest's clock is injected and starts at
// servertest.Epoch, so they are compared as they are.
type placeholders struct {
	url  string
	seen map[string]string
	n    map[string]int
}

func (p *placeholders) name(kind, v string) string {
	if ph, ok := p.seen[v]; ok {
		return ph
	}
	p.n[kind]++
	ph := fmt.Sprintf("<%s-%d>", kind, p.n[kind])
	p.seen[v] = ph
	return ph
}

// walk rewrites v in place, visiting object keys in sorted order so the
// numbering is stable.
func (p *placeholders) walk(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			x[k] = p.walk(k, x[k])
		}
	case []any:
		for i := range x {
			x[i] = p.walk(key, x[i])
		}
	case string:
		switch {
		case x == p.url:
			return "<server-url>"
		case key == "jti":
			return p.name("jti", x)
		case jwtRE.MatchString(x):
			return p.name("jwt", x)
		case uuidRE.MatchString(x):
			return p.name("uuid", x)
		}
	}
	return v
}

// golden compares a response's status and JSON body, volatile values
// replaced, with testdata/<name>.json. go test -update rewrites the file.
func golden(t *testing.T, s *servertest.Server, name string, r *servertest.Response) {
	t.Helper()
	var body any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("%s: body is not JSON: %v: %s", name, err, r.Body)
	}
	p := &placeholders{url: s.URL, seen: map[string]string{}, n: map[string]int{}}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep <jwt-1> readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"status": r.Status, "body": p.walk("", body)}); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", name, path, got, want)
	}
}
