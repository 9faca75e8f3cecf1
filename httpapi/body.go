package httpapi

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
)

// MaxBodyBytes is the largest request body any route accepts: a body over
// 64 KiB is answered with 413. Sign-in and token requests are a
// few hundred bytes; the limit only bounds what an attacker can make the
// server buffer.
const MaxBodyBytes = 64 << 10

// readBody reads the whole body, at most limit bytes, into a pooled buffer.
// The caller must hand the buffer back with putBuffer once nothing refers to
// its bytes any more. Reading everything first (rather than streaming into
// the JSON decoder) bounds the work, lets the limit be exact, and makes an
// empty body or a non-object easy to recognise.
func readBody(r *http.Request, limit int64) (*bytes.Buffer, error) {
	if limit <= 0 {
		limit = MaxBodyBytes
	}
	if r.ContentLength > limit {
		return nil, bodyTooLarge(limit)
	}
	buf := buffers.Get().(*bytes.Buffer)
	buf.Reset()
	if r.Body == nil {
		return buf, nil
	}
	// One byte more than the limit tells "exactly at the limit" from "over".
	_, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err == nil && int64(buf.Len()) > limit {
		err = &http.MaxBytesError{Limit: limit}
	}
	if err != nil {
		putBuffer(buf)
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			// Either our own limit or a tighter one from LimitBody.
			return nil, bodyTooLarge(min(limit, tooLarge.Limit))
		}
		// The client went away or sent a broken chunked body.
		return nil, InvalidRequest("could not read the request body", err)
	}
	return buf, nil
}

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putBuffer returns buf to the pool unless it grew unusually large (a body
// near the limit), so that one attack does not pin memory in the pool.
func putBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= 16<<10 {
		buffers.Put(buf)
	}
}

// mediaType returns the lower-cased media type of the request's
// Content-Type, or an *Error if it is malformed or names a charset other
// than UTF-8. JSON is UTF-8 by definition (RFC 8259 §8.1) and RFC 6749
// Appendix B encodes form parameters as UTF-8; silently reading another
// charset as UTF-8 would corrupt non-ASCII passwords.
func mediaType(r *http.Request, want string) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", badContentType("", want)
	}
	// The common cases need no parsing (and no allocation).
	switch ct {
	case "application/json", "application/x-www-form-urlencoded":
		return ct, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", InvalidRequest("malformed Content-Type; expected "+want, errors.Join(ErrContentType, err))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return "", InvalidRequest("unsupported charset "+Quote(cs)+"; the body must be UTF-8", ErrContentType)
	}
	return mt, nil
}
