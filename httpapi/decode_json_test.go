package httpapi_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/httpapi"
)

type signIn struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Age      int    `json:"age"`
	Device   struct {
		Trusted bool `json:"trusted"`
	} `json:"device"`
}

func decodeServer(t *testing.T, opts httpapi.DecodeOptions) *httptest.Server {
	return serve(t, httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		var req signIn
		if err := httpapi.DecodeJSON(r, &req, opts); err != nil {
			return err
		}
		return httpapi.WriteJSON(w, http.StatusOK, req)
	}, httpapi.WriteError))
}

func TestDecodeJSONOverHTTP(t *testing.T) {
	const ok = `{"email":"a@example.com","password":"pw"}`
	pad := func(n int) string { // a valid object of exactly n bytes
		return `{"email":"a"` + strings.Repeat(" ", n-len(`{"email":"a"}`)) + `}`
	}
	tests := []struct {
		name        string
		strict      bool
		contentType string
		body        string
		status      int
		code        string
		message     string // exact; empty for success
	}{
		{"valid", true, "application/json", ok, 200, "", ""},
		{"charset parameter", true, "application/json; charset=UTF-8", ok, 200, "", ""},
		{"media type case", true, "Application/JSON", ok, 200, "", ""},
		{"trailing whitespace", true, "application/json", ok + "\r\n\t ", 200, "", ""},
		{"exactly 64 KiB", true, "application/json", pad(64 << 10), 200, "", ""},
		{"65 KiB", true, "application/json", pad(65 << 10), 413, "request_too_large", "request body is larger than 64 KiB"},
		{"one byte over", true, "application/json", pad(64<<10 + 1), 413, "request_too_large", "request body is larger than 64 KiB"},
		{"empty", true, "application/json", "", 400, "invalid_request", "request body is empty"},
		{"only whitespace", true, "application/json", "  \n", 400, "invalid_request", "request body is empty"},
		{"null", true, "application/json", "null", 400, "invalid_request", "request body must be a JSON object"},
		{"array", true, "application/json", `[1]`, 400, "invalid_request", "request body must be a JSON object"},
		{"syntax error", true, "application/json", `{"email": x}`, 400, "invalid_request", "malformed JSON at byte 11"},
		{"truncated", true, "application/json", `{"email": "a`, 400, "invalid_request", "malformed JSON: unexpected end of input"},
		{"wrong type", true, "application/json", `{"email": 12}`, 400, "invalid_request", `field "email" must be a string`},
		{"wrong nested type", true, "application/json", `{"device": {"trusted": "yes"}}`, 400, "invalid_request", `field "device.trusted" must be a boolean`},
		{"not an integer", true, "application/json", `{"age": 1.5}`, 400, "invalid_request", `field "age" must be an integer`},
		{"unknown field, strict", true, "application/json", `{"email":"a","foo":1}`, 400, "invalid_request", `unknown field "foo"`},
		{"unknown field, lenient", false, "application/json", `{"email":"a","foo":1}`, 200, "", ""},
		{"trailing object", true, "application/json", ok + ` {}`, 400, "invalid_request", "unexpected data after the JSON object at byte 43"},
		{"trailing garbage", true, "application/json", ok + `x`, 400, "invalid_request", "unexpected data after the JSON object at byte 42"},
		{"form content type", true, "application/x-www-form-urlencoded", ok, 400, "invalid_request", "Content-Type must be application/json"},
		{"text/plain", true, "text/plain", ok, 400, "invalid_request", "Content-Type must be application/json"},
		{"no content type", true, "", ok, 400, "invalid_request", "missing Content-Type; expected application/json"},
		{"latin-1", true, "application/json; charset=ISO-8859-1", ok, 400, "invalid_request", `unsupported charset "ISO-8859-1"; the body must be UTF-8`},
		{"malformed content type", true, "application/json; =", ok, 400, "invalid_request", "malformed Content-Type; expected application/json"},
		// The JSON decoder agrees with the form parser:
		// a repeated field, text that is not UTF-8 and a name that only
		// folds onto a field's are refused, not resolved by encoding/json.
		{"repeated field, strict", true, "application/json", `{"email":"a","password":"p","email":"b"}`, 400, "invalid_request", `field "email" is repeated`},
		{"repeated field, lenient", false, "application/json", `{"email":"a","email":"b"}`, 400, "invalid_request", `field "email" is repeated`},
		{"repeated unknown field, lenient", false, "application/json", `{"x":1,"x":2}`, 400, "invalid_request", `field "x" is repeated`},
		{"repeated field, escaped", true, "application/json", `{"email":"a","em\u0061il":"b"}`, 400, "invalid_request", `field "email" is repeated`},
		{"invalid UTF-8 in a value", true, "application/json", "{\"email\":\"a\xff\"}", 400, "invalid_request", "request body is not valid UTF-8"},
		{"invalid UTF-8 in a name", false, "application/json", "{\"e\xc3\":1}", 400, "invalid_request", "request body is not valid UTF-8"},
		{"lone high surrogate", true, "application/json", `{"email":"\ud800"}`, 400, "invalid_request", `request body has a \u escape of a lone UTF-16 surrogate, which is not a character`},
		{"lone low surrogate", true, "application/json", `{"email":"a\udc00b"}`, 400, "invalid_request", `request body has a \u escape of a lone UTF-16 surrogate, which is not a character`},
		{"reversed pair", true, "application/json", `{"email":"\udc00\ud800"}`, 400, "invalid_request", `request body has a \u escape of a lone UTF-16 surrogate, which is not a character`},
		{"surrogate pair", true, "application/json", `{"email":"\ud83d\ude00","password":"\\ud800"}`, 200, "", ""},
		{"folded name, lenient", false, "application/json", `{"Email":"a"}`, 400, "invalid_request", `field "Email" must be spelled "email"`},
		{"long-s name, lenient", false, "application/json", `{"email":"a","paſſword":"b"}`, 400, "invalid_request", `field "paſſword" must be spelled "password"`},
		{"folded name, strict", true, "application/json", `{"EMAIL":"a"}`, 400, "invalid_request", `unknown field "EMAIL"`},
	}
	strict, lenient := decodeServer(t, httpapi.DecodeOptions{Strict: true}), decodeServer(t, httpapi.DecodeOptions{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := lenient
			if tt.strict {
				srv = strict
			}
			res := do(t, srv, "POST", "/", tt.contentType, strings.NewReader(tt.body))
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d; body %q", res.Status, tt.status, res.Body)
			}
			if tt.status == 200 {
				return
			}
			code, msg := errorBody(t, res)
			if code != tt.code || msg != tt.message {
				t.Errorf("got (%q, %q), want (%q, %q)", code, msg, tt.code, tt.message)
			}
		})
	}
}

func TestDecodeJSONSentinels(t *testing.T) {
	tests := []struct {
		contentType, body string
		want              error
	}{
		{"application/json", strings.Repeat(" ", 70<<10), httpapi.ErrBodyTooLarge},
		{"application/json", "", httpapi.ErrMissingBody},
		{"text/plain", "{}", httpapi.ErrContentType},
		{"application/json", "{", httpapi.ErrMalformedBody},
		{"application/json", `{"email":1}`, httpapi.ErrMalformedBody},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
		r.Header.Set("Content-Type", tt.contentType)
		var dst signIn
		err := httpapi.DecodeJSON(r, &dst, httpapi.DecodeOptions{})
		var e *httpapi.Error
		if !errors.Is(err, tt.want) || !errors.As(err, &e) {
			t.Errorf("%q: err %v, want *Error wrapping %v", tt.body, err, tt.want)
		}
	}
}

func TestDecodeJSONLongFieldNameIsNotEchoed(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"`+strings.Repeat("a", 10000)+`":1}`))
	r.Header.Set("Content-Type", "application/json")
	var dst signIn
	err := httpapi.DecodeJSON(r, &dst, httpapi.DecodeOptions{Strict: true})
	var e *httpapi.Error
	if !errors.As(err, &e) || len(e.Message) > 100 {
		t.Fatalf("err %v", err)
	}
}

func TestDecodeJSONUnderLimitBody(t *testing.T) {
	// LimitBody's tighter limit is reported as a 413 too.
	srv := serve(t, httpapi.Chain(httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		var req signIn
		return httpapi.DecodeJSON(r, &req, httpapi.DecodeOptions{})
	}, nil), httpapi.LimitBody(1024)))
	res := do(t, srv, "POST", "/", "application/json", strings.NewReader(`{"email":"`+strings.Repeat("a", 2000)+`"}`))
	if code, msg := errorBody(t, res); res.Status != 413 || code != "request_too_large" || msg != "request body is larger than 1 KiB" {
		t.Fatalf("%d %q %q", res.Status, code, msg)
	}
}

func TestDecodeJSONProgrammingError(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{}`))
	r.Header.Set("Content-Type", "application/json")
	var dst signIn
	err := httpapi.DecodeJSON(r, dst, httpapi.DecodeOptions{}) // not a pointer
	var e *httpapi.Error
	if err == nil || errors.As(err, &e) {
		t.Fatalf("err %v: want a plain (500) error", err)
	}
}
