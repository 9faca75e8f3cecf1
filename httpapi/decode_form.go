package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/latchkey-dev/latchkey/internal/jsonkeys"
)

// DecodeForm reads the parameters of an OAuth 2.0 style request body
// (RFC 6749 §3.2, §4.3.2, §6; RFC 7009 §2.1; RFC 7662 §2.1). It accepts
//
//   - application/x-www-form-urlencoded, with or without ";charset=UTF-8"
//     (golang.org/x/oauth2 sends the bare type, oauth4webapi and browsers
//     add the charset); and
//   - application/json: one object whose values are strings or numbers.
//     Numbers are kept as their literal text ("3600"); null means the
//     parameter is absent. Arrays, objects and booleans are refused.
//
// Only the body is read: parameters in the URL query are ignored, since
// credentials there end up in logs (RFC 6749 §3.2 says the token endpoint
// takes POST parameters). A parameter given more than once is refused, as
// RFC 6749 §3.2 requires ("Request and response parameters MUST NOT be
// included more than once"), so every returned key has exactly one value.
// Parameters must be UTF-8 (RFC 6749 Appendix B).
//
// An empty form body yields empty url.Values and no error, so the dialect can
// answer "grant_type is missing"; an empty JSON body is ErrMissingBody. The
// size limit is MaxBodyBytes. Every failure is an *Error; DecodeForm never
// panics, whatever the input.
func DecodeForm(r *http.Request) (url.Values, error) {
	const want = "application/x-www-form-urlencoded or application/json"
	mt, err := mediaType(r, want)
	if err != nil {
		return nil, err
	}
	if mt != "application/x-www-form-urlencoded" && mt != "application/json" {
		return nil, badContentType(mt, want)
	}
	buf, err := readBody(r, MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	defer putBuffer(buf)
	if mt == "application/json" {
		return parseJSONParams(buf.Bytes())
	}
	return parseFormParams(buf.String())
}

// parseFormParams parses an application/x-www-form-urlencoded body.
func parseFormParams(body string) (url.Values, error) {
	vals, err := url.ParseQuery(body)
	if err != nil {
		// url.ParseQuery reports a bad escape or a ';' separator; its
		// message quotes a fragment of the body, so keep it for the log.
		return nil, malformed("malformed form body", err)
	}
	for k, vs := range vals {
		if len(vs) > 1 {
			return nil, malformed(fmt.Sprintf("parameter %s is repeated", Quote(k)), nil)
		}
		if !utf8.ValidString(k) {
			return nil, malformed("parameter name is not valid UTF-8", nil)
		}
		if !utf8.ValidString(vs[0]) {
			return nil, malformed(fmt.Sprintf("parameter %s is not valid UTF-8", Quote(k)), nil)
		}
	}
	return vals, nil
}

// parseJSONParams parses a flat JSON object of string and number values,
// refusing duplicate keys (which encoding/json would silently resolve in
// favour of the last).
func parseJSONParams(data []byte) (url.Values, error) {
	start := jsonkeys.SkipSpace(data, 0)
	if start == len(data) {
		return nil, missingBody()
	}
	if data[start] != '{' {
		return nil, malformed("request body must be a JSON object", nil)
	}
	// Text must be UTF-8 here as in a form body (encoding/json would turn
	// it into U+FFFD).
	if !utf8.Valid(data) {
		return nil, malformed("request body is not valid UTF-8", nil)
	}
	if loneSurrogate(data) {
		return nil, malformed(`request body has a \u escape of a lone UTF-16 surrogate, which is not a character`, nil)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the opening '{'
		return nil, jsonError(err)
	}
	vals := url.Values{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		key, ok := tok.(string)
		if !ok { // Token reports a non-string key as a syntax error; be safe.
			return nil, malformed("malformed JSON object key", nil)
		}
		if _, dup := vals[key]; dup {
			return nil, malformed(fmt.Sprintf("parameter %s is repeated", Quote(key)), nil)
		}
		tok, err = dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		switch v := tok.(type) {
		case string:
			vals[key] = []string{v}
		case json.Number:
			vals[key] = []string{v.String()}
		case nil:
			// null: the parameter is absent. Remember the key all the
			// same, so that {"a": null, "a": "x"} is still a duplicate.
			vals[key] = nil
		default: // bool, or '[' / '{' opening a nested value
			return nil, malformed(fmt.Sprintf("field %s must be a string or a number", Quote(key)), nil)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, jsonError(err)
	}
	end := jsonkeys.SkipSpace(data, int(dec.InputOffset())) + 1 // counted from 1
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed(fmt.Sprintf("unexpected data after the JSON object at byte %d", end), err)
	}
	for k, vs := range vals {
		if vs == nil {
			delete(vals, k)
		}
	}
	return vals, nil
}
