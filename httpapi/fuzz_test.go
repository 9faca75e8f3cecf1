package httpapi_test

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/latchkey-dev/latchkey/httpapi"
)

// The seed corpora are in testdata/fuzz/FuzzDecodeForm and
// testdata/fuzz/FuzzDecodeJSON; `go test` runs them every time, and
// `go test -fuzz FuzzDecodeForm ./httpapi` explores further.

// FuzzDecodeForm checks that DecodeForm never panics and keeps its
// contract: every failure is an *Error, and every success has exactly one
// value per parameter.
func FuzzDecodeForm(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", []byte("grant_type=refresh_token&refresh_token=a.b.c"))
	f.Add("application/json", []byte(`{"grant_type":"password","username":"a@b.c","n":1}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r := httptest.NewRequest("POST", "/oauth/token", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		vals, err := httpapi.DecodeForm(r)
		if err != nil {
			var e *httpapi.Error
			if !errors.As(err, &e) || (e.Status != 400 && e.Status != 413) || e.Message == "" {
				t.Fatalf("error %v is not a 400/413 *Error", err)
			}
			if len(e.Message) > 200 {
				t.Fatalf("message of %d bytes echoes the input", len(e.Message))
			}
			return
		}
		for k, vs := range vals {
			if len(vs) != 1 {
				t.Fatalf("parameter %q has %d values", k, len(vs))
			}
		}
	})
}

// FuzzDecodeJSON checks that DecodeJSON never panics and that every failure
// is a 400 or 413 *Error.
func FuzzDecodeJSON(f *testing.F) {
	f.Add(true, []byte(`{"email":"a@example.com","password":"pw","age":3,"device":{"trusted":true}}`))
	f.Add(false, []byte(`{"email":1}`))
	f.Fuzz(func(t *testing.T, strict bool, body []byte) {
		r := httptest.NewRequest("POST", "/auth/sign-in", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var dst signIn
		err := httpapi.DecodeJSON(r, &dst, httpapi.DecodeOptions{Strict: strict})
		if err == nil {
			return
		}
		var e *httpapi.Error
		if !errors.As(err, &e) || (e.Status != 400 && e.Status != 413) || e.Message == "" {
			t.Fatalf("error %v is not a 400/413 *Error", err)
		}
		if len(e.Message) > 200 {
			t.Fatalf("message of %d bytes echoes the input", len(e.Message))
		}
	})
}
