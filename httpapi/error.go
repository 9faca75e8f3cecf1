package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Error is a failure detected by the plumbing (or by a dialect) that already
// knows its HTTP meaning. Status, Code and Message go to the client; Cause is
// for the server's log only and may hold details the client must not see.
// Header holds headers the response must carry (Retry-After, for instance).
//
// An ErrorWriter renders an *Error in its dialect's shape: the canonical
// dialect as {"error": Code, "message": Message}, OAuth 2.0 as
// {"error": Code, "error_description": Message}, and so on. It should copy
// Header into the response before writing the status.
type Error struct {
	Status  int    // HTTP status code, e.g. 400.
	Code    string // machine-readable code, e.g. "invalid_request".
	Message string // client-safe, human-readable explanation.
	// Reason, when set, is a finer machine-readable code beside a standard
	// Code (RFC 6749's invalid_request, say): the OAuth-shaped dialects send
	// it as error_reason.
	Reason string
	Cause  error       // server-only detail; may be nil.
	Header http.Header // extra response headers; may be nil.
}

// Error returns the code, the message and the cause, for logs.
func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause, so errors.Is finds the sentinels below.
func (e *Error) Unwrap() error { return e.Cause }

// Codes used by the plumbing. "invalid_request" is the RFC 6749 §5.2 code and
// is meaningful to every dialect; "request_too_large" has no OAuth equivalent.
const (
	CodeInvalidRequest  = "invalid_request"
	CodeRequestTooLarge = "request_too_large"
	CodeInternal        = "internal_error"
)

// Sentinels for the kinds of plumbing failure; test with errors.Is. Every
// *Error that DecodeJSON and DecodeForm return wraps exactly one of them.
var (
	// ErrBodyTooLarge: the body is longer than the limit (413).
	ErrBodyTooLarge = errors.New("httpapi: request body too large")
	// ErrMissingBody: the body is empty where content was required (400).
	ErrMissingBody = errors.New("httpapi: request body is empty")
	// ErrContentType: the Content-Type is missing or not one the endpoint
	// accepts (400 with a clear message, rather than 415).
	ErrContentType = errors.New("httpapi: unsupported content type")
	// ErrMalformedBody: the body does not parse, has a value of the wrong
	// type, an unknown field (strict decoding), trailing data, or a
	// repeated parameter (400).
	ErrMalformedBody = errors.New("httpapi: malformed request body")
)

// InvalidRequest returns a 400 "invalid_request" *Error with a client-safe
// message and an optional server-only cause.
func InvalidRequest(message string, cause error) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: message, Cause: cause}
}

// bodyTooLarge is the 413 answer for a body longer than limit bytes.
func bodyTooLarge(limit int64) *Error {
	return &Error{
		Status:  http.StatusRequestEntityTooLarge,
		Code:    CodeRequestTooLarge,
		Message: "request body is larger than " + byteSize(limit),
		Cause:   ErrBodyTooLarge,
	}
}

// missingBody is the 400 answer for an empty body.
func missingBody() *Error {
	return InvalidRequest("request body is empty", ErrMissingBody)
}

// badContentType is the 400 answer for a Content-Type the endpoint does not
// accept. Every dialect answers bad input with a 400 and a clear message, so
// this one does too, rather than the 415 that RFC 9110 §15.5.16 suggests.
func badContentType(got, want string) *Error {
	msg := "Content-Type must be " + want
	if got == "" {
		msg = "missing Content-Type; expected " + want
	}
	return InvalidRequest(msg, ErrContentType)
}

// malformed is the 400 answer for a body that does not parse; cause is the
// parser's own error, kept for the log.
func malformed(message string, cause error) *Error {
	if cause == nil {
		return InvalidRequest(message, ErrMalformedBody)
	}
	return InvalidRequest(message, fmt.Errorf("%w: %w", ErrMalformedBody, cause))
}

// byteSize renders a limit as "64 KiB" when it is a whole number of KiB.
func byteSize(n int64) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Quote quotes a client-supplied string for an error message, bounding its
// length so a message never echoes a large input back.
func Quote(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

// OAuthText returns s with only the characters RFC 6749 §5.2 allows in an
// error_description (%x20-21 / %x23-5B / %x5D-7E: printable ASCII without
// '"' and '\'): a double quote becomes a single one, a backslash a slash,
// and anything else (control characters, non-ASCII input a message
// quotes, the "…" of a shortened quote) a '?'.
func OAuthText(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, '\'')
		case r == '\\':
			b = append(b, '/')
		case r < 0x20 || r > 0x7e:
			b = append(b, '?')
		default:
			b = append(b, byte(r))
		}
	}
	return string(b)
}
