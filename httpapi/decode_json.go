package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// DecodeOptions tune DecodeJSON.
type DecodeOptions struct {
	// Strict refuses fields the destination does not declare ("unknown
	// field \"foo\""), matching top-level names exactly: encoding/json on
	// its own would let "Email" fill an `json:"email"` field, which the
	// OpenAPI document does not allow.
	Strict bool
	// MaxBytes overrides MaxBodyBytes when positive.
	MaxBytes int64
}

// DecodeJSON decodes the request's JSON object body into dst (a pointer,
// usually to a struct). Every failure is an *Error whose message a client
// can act on:
//
//   - Content-Type not application/json (parameters such as charset=UTF-8
//     are allowed): 400, "Content-Type must be application/json".
//   - a body over the limit: 413, "request body is larger than 64 KiB".
//   - an empty body: 400, "request body is empty".
//   - not a JSON object: 400, "request body must be a JSON object".
//   - a syntax error: 400, "malformed JSON at byte 12".
//   - a value of the wrong type: 400, `field "email" must be a string`.
//   - with opts.Strict, an undeclared field: 400, `unknown field "foo"`.
//   - anything after the object: 400, "unexpected data after the JSON
//     object at byte 40".
//
// A dst that is not a non-nil pointer is a programming error and is returned
// as a plain error (a 500 from any ErrorWriter).
func DecodeJSON(r *http.Request, dst any, opts DecodeOptions) error {
	if _, err := jsonMediaType(r); err != nil {
		return err
	}
	buf, err := readBody(r, opts.MaxBytes)
	if err != nil {
		return err
	}
	defer putBuffer(buf)
	return decodeJSONBytes(buf.Bytes(), dst, opts.Strict)
}

// jsonMediaType accepts application/json with or without parameters.
func jsonMediaType(r *http.Request) (string, error) {
	const want = "application/json"
	mt, err := mediaType(r, want)
	if err != nil {
		return "", err
	}
	if mt != want {
		return "", badContentType(mt, want)
	}
	return mt, nil
}

// decodeJSONBytes is DecodeJSON after the body has been read.
func decodeJSONBytes(data []byte, dst any, strict bool) error {
	start := skipSpace(data, 0)
	if start == len(data) {
		return missingBody()
	}
	if data[start] != '{' {
		// Refuse null, arrays and scalars up front: decoding null into a
		// struct would silently succeed with every field empty.
		return malformed("request body must be a JSON object", nil)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
		if err := exactKeys(data, dst); err != nil {
			return err
		}
	}
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	end := int(dec.InputOffset())
	if rest := skipSpace(data, end); rest != len(data) {
		// Positions count from 1, like json.SyntaxError.Offset.
		return malformed(fmt.Sprintf("unexpected data after the JSON object at byte %d", rest+1), nil)
	}
	return nil
}

// jsonError turns an encoding/json error into a client-safe *Error.
func jsonError(err error) error {
	var (
		syntax  *json.SyntaxError
		typ     *json.UnmarshalTypeError
		invalid *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &syntax):
		return malformed(fmt.Sprintf("malformed JSON at byte %d", syntax.Offset), err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		// Token reports a truncated object as io.EOF; the body is known
		// not to be empty by then.
		return malformed("malformed JSON: unexpected end of input", err)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return malformed("request body must be a JSON object", err)
		}
		return malformed(fmt.Sprintf("field %s must be %s", quote(typ.Field), jsonKind(typ.Type)), err)
	case errors.As(err, &invalid):
		return err
	}
	// encoding/json has no typed error for an unknown field.
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if name, uerr := strconv.Unquote(field); uerr == nil {
			field = quote(name) // bounded: the name is the client's input
		} else {
			field = quote(field)
		}
		return malformed("unknown field "+field, err)
	}
	// A field type's own UnmarshalJSON refused its value; its message is
	// not ours to pass on.
	return malformed("invalid value in JSON body", err)
}

// jsonKind names the JSON value a Go type expects, for error messages.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a valid value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a valid value"
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace (RFC 8259 §2).
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// declared caches, per struct type, the JSON names of its fields.
var declared sync.Map // reflect.Type → map[string]bool

// exactKeys refuses a top-level key of the object in data that is not, to
// the letter, the JSON name of a field of *dst (a struct). Syntax errors are
// left to the decoder, which reports them with their position.
func exactKeys(data []byte, dst any) error {
	t := reflect.TypeOf(dst)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	t = t.Elem()
	v, ok := declared.Load(t)
	if !ok {
		names := map[string]bool{}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			names[name] = true
		}
		v, _ = declared.LoadOrStore(t, names)
	}
	names := v.(map[string]bool)
	if unknown, found, ok := scanKeys(data, names); ok {
		if found {
			return malformed("unknown field "+quote(unknown), nil)
		}
		return nil
	}
	return exactKeysSlow(data, names)
}

// exactKeysSlow is exactKeys through encoding/json's tokenizer, for the
// objects scanKeys leaves to it (escaped keys, invalid input).
func exactKeysSlow(data []byte, names map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := tok.(string)
		if !names[key] {
			return malformed("unknown field "+quote(key), nil)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

// scanKeys reads the top-level keys of the JSON object in data without
// decoding anything: the strict decode of every JSON request body (a
// refresh, say) spent as much on encoding/json's tokenizer to list the keys
// as on decoding the body itself. It returns the first key that is not in
// names (found false if none), and ok false when it cannot tell: a key with an escape
// or invalid UTF-8, or input that is not a well-formed object. The caller
// then asks encoding/json, which also reports syntax errors with positions.
func scanKeys(data []byte, names map[string]bool) (unknown string, found, ok bool) {
	i := skipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return "", false, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return "", false, true
	}
	for i < len(data) {
		if data[i] != '"' {
			return "", false, false
		}
		start := i + 1
		j := start
		for j < len(data) && data[j] != '"' {
			if c := data[j]; c == '\\' || c < 0x20 || c >= 0x80 {
				return "", false, false // escapes, control characters, non-ASCII: ask encoding/json
			}
			j++
		}
		if j == len(data) {
			return "", false, false
		}
		key := data[start:j]
		i = skipSpace(data, j+1)
		if i == len(data) || data[i] != ':' {
			return "", false, false
		}
		if i = skipValue(data, skipSpace(data, i+1)); i < 0 {
			return "", false, false
		}
		if !found && !names[string(key)] {
			unknown, found = string(key), true // keep scanning: the object must be well formed
		}
		i = skipSpace(data, i)
		if i == len(data) {
			return "", false, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return unknown, found, true
		default:
			return "", false, false
		}
	}
	return "", false, false
}

// skipValue returns the index just past the JSON value starting at data[i],
// or -1 if there is none. It follows structure (strings, nesting) and leaves
// the spelling of numbers and literals to the decoder that runs next.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				if i = skipString(data, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	// A number, true, false or null: up to the next delimiter.
	for j := i; j < len(data); j++ {
		switch data[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if j == i {
				return -1
			}
			return j
		}
	}
	return -1 // the object cannot end inside a scalar
}

// skipString returns the index just past the string starting at data[i]
// (a '"'), or -1 if it does not end.
func skipString(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}
