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
	"unicode/utf8"

	"github.com/latchkey-dev/latchkey/internal/jsonkeys"
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
	start := jsonkeys.SkipSpace(data, 0)
	if start == len(data) {
		return missingBody()
	}
	if data[start] != '{' {
		// Refuse null, arrays and scalars up front: decoding null into a
		// struct would silently succeed with every field empty.
		return malformed("request body must be a JSON object", nil)
	}
	// The form parser (DecodeForm) refuses text that is not UTF-8 and a
	// repeated parameter; encoding/json would turn the one into U+FFFD and
	// resolve the other in favour of the last. The two decoders agree.
	if !utf8.Valid(data) {
		return malformed("request body is not valid UTF-8", nil)
	}
	if loneSurrogate(data) {
		return malformed(`request body has a \u escape of a lone UTF-16 surrogate, which is not a character`, nil)
	}
	if err := checkKeys(data, dst, strict); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	end := int(dec.InputOffset())
	if rest := jsonkeys.SkipSpace(data, end); rest != len(data) {
		// Positions count from 1, like json.SyntaxError.Offset.
		return malformed(fmt.Sprintf("unexpected data after the JSON object at byte %d", rest+1), nil)
	}
	return nil
}

// loneSurrogate reports whether data has a \uXXXX escape of a UTF-16
// surrogate that is not half of a pair (RFC 8259 §8.2: such a string is not
// text; encoding/json replaces it with U+FFFD). A backslash is only valid
// inside a string, where each one starts an escape, so reading the escapes
// in order from the start finds them all.
func loneSurrogate(data []byte) bool {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(data) || data[i] != '\\' || data[i+1] != 'u' {
			return 0, false
		}
		var r rune
		for _, c := range data[i+2 : i+6] {
			switch {
			case '0' <= c && c <= '9':
				r = r<<4 | rune(c-'0')
			case 'a' <= c && c <= 'f':
				r = r<<4 | rune(c-'a'+10)
			case 'A' <= c && c <= 'F':
				r = r<<4 | rune(c-'A'+10)
			default:
				return 0, false // the decoder reports the bad escape
			}
		}
		return r, true
	}
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		r, ok := hex4(i)
		switch {
		case !ok:
			i++ // a one-character escape: skip the character escaped
		case 0xD800 <= r && r < 0xDC00:
			if lo, ok := hex4(i + 6); !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 11 // the pair
		case 0xDC00 <= r && r <= 0xDFFF:
			return true
		default:
			i += 5
		}
	}
	return false
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
		return malformed(fmt.Sprintf("field %s must be %s", Quote(typ.Field), jsonKind(typ.Type)), err)
	case errors.As(err, &invalid):
		return err
	}
	// encoding/json has no typed error for an unknown field.
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if name, uerr := strconv.Unquote(field); uerr == nil {
			field = Quote(name) // bounded: the name is the client's input
		} else {
			field = Quote(field)
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

// checkKeys refuses a top-level key of the object in data that appears
// twice (which encoding/json would resolve in favour of the last), and a key
// that is not, to the letter, the JSON name of a field of *dst (a struct):
// with strict, every such key ("unknown field"); without, one that
// encoding/json would still decode into a field because it matches a name
// without regard to case ("Email", or "ſtrategy" with U+017F for
// "strategy"), as the form parser would not. Syntax errors are left to the
// decoder, which reports them with their position.
func checkKeys(data []byte, dst any, strict bool) error {
	names := fieldNames(dst)
	var c keyCheck
	c.names, c.strict = names, strict
	if !jsonkeys.Each(data, c.key) {
		c = keyCheck{names: names, strict: strict}
		if jsonkeys.EachDecoded(data, c.key) != nil {
			return nil // not a well-formed object: the decoder says where
		}
	}
	return c.err
}

// keyCheck is the state of one pass of checkKeys.
type keyCheck struct {
	names  map[string]bool // nil when dst is not a struct
	strict bool
	// seen are the keys met so far: a slice for the few keys of a usual
	// body, then a map, so that a body of thousands of distinct keys costs
	// time in proportion to its size, not to its square.
	seen    []string
	seenMap map[string]struct{}
	err     error
}

// few is how many keys keyCheck compares one by one before it uses a map.
const few = 16

func (c *keyCheck) repeated(k []byte) bool {
	if c.seenMap != nil {
		if _, ok := c.seenMap[string(k)]; ok {
			return true
		}
		c.seenMap[string(k)] = struct{}{}
		return false
	}
	for _, s := range c.seen {
		if s == string(k) {
			return true
		}
	}
	c.seen = append(c.seen, string(k))
	if len(c.seen) > few {
		c.seenMap = make(map[string]struct{}, 4*few)
		for _, s := range c.seen {
			c.seenMap[s] = struct{}{}
		}
	}
	return false
}

func (c *keyCheck) key(k []byte) {
	if c.err != nil {
		return
	}
	if c.repeated(k) {
		c.err = malformed(fmt.Sprintf("field %s is repeated", Quote(string(k))), nil)
		return
	}
	if c.names == nil || c.names[string(k)] {
		return
	}
	if c.strict {
		c.err = malformed("unknown field "+Quote(string(k)), nil)
		return
	}
	for n := range c.names {
		if bytes.EqualFold(k, []byte(n)) {
			c.err = malformed(fmt.Sprintf("field %s must be spelled %s", Quote(string(k)), Quote(n)), nil)
			return
		}
	}
}

// declared caches, per struct type, the JSON names of its fields.
var declared sync.Map // reflect.Type → map[string]bool

// fieldNames returns the JSON names of the fields of *dst, or nil when dst
// is not a pointer to a struct.
func fieldNames(dst any) map[string]bool {
	t := reflect.TypeOf(dst)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	t = t.Elem()
	if v, ok := declared.Load(t); ok {
		return v.(map[string]bool)
	}
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
	v, _ := declared.LoadOrStore(t, names)
	return v.(map[string]bool)
}
