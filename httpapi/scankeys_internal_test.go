package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/jsonkeys"
)

var scanNames = map[string]bool{"email": true, "password": true, "refreshToken": true}

// unknownOf is encoding/json's tokenizer's verdict (jsonkeys.EachDecoded)
// as the message of the first undeclared key ("" for none).
func unknownOf(t *testing.T, data []byte) string {
	t.Helper()
	unknown, found := "", false
	if err := jsonkeys.EachDecoded(data, func(k []byte) {
		if !found && !scanNames[string(k)] {
			unknown, found = string(k), true
		}
	}); err != nil {
		t.Fatalf("EachDecoded refuses %q, which encoding/json accepts: %v", data, err)
	}
	if !found {
		return ""
	}
	return malformed("unknown field "+Quote(unknown), nil).Message
}

func checkScan(t *testing.T, data []byte) {
	t.Helper()
	unknown, found, ok := jsonkeys.FirstUnknown(data, scanNames)
	if !ok {
		return // left to jsonkeys.EachDecoded
	}
	if !json.Valid(data) {
		// A body scanKeys read as an object but encoding/json refuses:
		// the decode that follows reports the syntax error either way.
		return
	}
	want := unknownOf(t, data)
	got := ""
	if found {
		got = malformed("unknown field "+Quote(unknown), nil).Message
	}
	if got != want {
		t.Fatalf("%q: scanKeys says %q, encoding/json says %q", data, got, want)
	}
}

func TestScanKeys(t *testing.T) {
	for _, body := range []string{
		`{}`, ` { } `, `{"email":"a","password":"b"}`, `{"refreshToken":"x.y.z"}`,
		`{"Email":"a"}`, `{"email":"a","extra":1}`, `{"extra":{"a":[1,{"b":"}"}]},"email":"x"}`,
		`{"email":"a\"b","password":"\\"}`, `{"email":null,"password":true,"refreshToken":-1.5e3}`,
		`{"email":"a","email":"b"}`, `{"":""}`, `{"a":[],"b":{}}`, "{\"email\"\t:\n\"a\"\r}",
		`{"em\u0061il":"a"}`, `{"émail":"a"}`, `{"email":"a",}`, `{"email" "a"}`, `{"email":}`,
		`{"email":"a"`, `{"email":[1,2}`, `["email"]`, `{"email":"a"} {}`, `{"email":tru}`,
	} {
		checkScan(t, []byte(body))
	}
	// The common cases take the fast path.
	for _, body := range []string{`{"refreshToken":"x.y.z"}`, `{"email":"a","password":"b","x":[1,{"y":"]"}]}`} {
		if _, _, ok := jsonkeys.FirstUnknown([]byte(body), scanNames); !ok {
			t.Errorf("%s: not read by scanKeys", body)
		}
	}
	if u, found, _ := jsonkeys.FirstUnknown([]byte(`{"email":"a","Password":"b","x":1}`), scanNames); !found || u != "Password" {
		t.Errorf("first unknown key = %q; want Password", u)
	}
}

// FuzzScanKeys: on every valid JSON object scanKeys reads, it agrees with
// encoding/json's tokenizer about the first undeclared key.
func FuzzScanKeys(f *testing.F) {
	f.Add([]byte(`{"email":"a","password":"b"}`))
	f.Add([]byte(`{"x":{"email":["}",1]},"Email":null}`))
	f.Add([]byte(`{"refreshToken":"a\"b\\"}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkScan(t, data) })
}
