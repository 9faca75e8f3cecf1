// Package jsonkeys reads the top-level member names of a JSON object without
// decoding it. The strict decode of every JSON request body (a refresh, say)
// spent as much on encoding/json's tokenizer to list the keys as on decoding
// the body itself, and an access token's claims are decoded a second time,
// into a map, only when they have a member beyond the registered ones.
// EachDecoded is the fallback through encoding/json for the objects the
// byte scan cannot read (escaped or non-ASCII names).
//
// Its oracle is encoding/json: httpapi's FuzzScanKeys and token's
// FuzzAccessClaimsDifferential check it against the tokenizer it avoids.
package jsonkeys

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// SkipSpace returns the index of the first byte at or after i that is not
// JSON whitespace (RFC 8259 §2).
func SkipSpace(data []byte, i int) int {
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

// FirstUnknown reads the top-level keys of the JSON object in data without
// decoding anything. It returns the first key that is not in names (found
// false if none), and ok false when it cannot tell: a key with an escape, a
// control or non-ASCII character, or input that is not a well-formed object.
// The caller then asks encoding/json, which also reports syntax errors with
// positions.
func FirstUnknown(data []byte, names map[string]bool) (unknown string, found, ok bool) {
	ok = Each(data, func(key []byte) {
		if !found && !names[string(key)] {
			unknown, found = string(key), true // keep scanning: the object must be well formed
		}
	})
	if !ok {
		return "", false, false
	}
	return unknown, found, true
}

// Each calls fn with every top-level key of the JSON object in data, in
// order, without decoding anything (key aliases data). It returns false when
// it cannot tell, for the same inputs as FirstUnknown; fn may have been
// called for some keys by then, so a caller that keeps state starts again
// with EachDecoded.
func Each(data []byte, fn func(key []byte)) bool {
	i := SkipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return false
	}
	i = SkipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return true
	}
	for i < len(data) {
		if data[i] != '"' {
			return false
		}
		start := i + 1
		j := start
		for j < len(data) && data[j] != '"' {
			if c := data[j]; c == '\\' || c < 0x20 || c >= 0x80 {
				return false // escapes, control characters, non-ASCII: ask encoding/json
			}
			j++
		}
		if j == len(data) {
			return false
		}
		key := data[start:j]
		i = SkipSpace(data, j+1)
		if i == len(data) || data[i] != ':' {
			return false
		}
		if i = skipValue(data, SkipSpace(data, i+1)); i < 0 {
			return false
		}
		fn(key)
		i = SkipSpace(data, i)
		if i == len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = SkipSpace(data, i+1)
		case '}':
			return true
		default:
			return false
		}
	}
	return false
}

// EachDecoded calls fn with every top-level key of the JSON object in data,
// unescaped (as encoding/json decodes it: invalid UTF-8 and lone surrogates
// become U+FFFD), in order. It is Each through encoding/json's tokenizer, for
// the objects Each leaves to it; it returns the tokenizer's error for input
// that is not a well-formed object.
func EachDecoded(data []byte, fn func(key []byte)) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return errNotObject
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return errNotObject
		}
		fn([]byte(key))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errNotObject // data after the object
	}
	return nil
}

var errNotObject = errors.New("jsonkeys: not one JSON object")

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
