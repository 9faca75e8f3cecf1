package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// WriteJSON writes v as a JSON response with the given status and
// Content-Type: application/json (exactly: golang.org/x/oauth2 and other
// clients match the media type, and RFC 8259 §11 defines no charset
// parameter).
//
// The value is encoded before anything is written, so an encoding failure
// (an unsupported type, a failing MarshalJSON) is returned with the response
// still untouched, and the caller's ErrorWriter can answer 500 instead. The
// encoder writes straight from its pooled internal buffer to w in one Write:
// there is no second copy of the body.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	jw := jsonWriters.Get().(*jsonWriter)
	jw.w, jw.status = w, status
	err := jw.enc.Encode(v)
	if err == nil && !jw.wrote {
		// Encode never writes zero bytes on success, but keep the contract
		// that the status is always sent.
		w.WriteHeader(status)
	}
	jw.w, jw.wrote = nil, false
	jsonWriters.Put(jw)
	return err
}

// jsonWriter sends the status just before the encoder's single Write, so
// that a failed encoding leaves the response unwritten. It is pooled together
// with its *json.Encoder, which keeps no state between calls to Encode.
type jsonWriter struct {
	w      http.ResponseWriter
	status int
	wrote  bool
	enc    *json.Encoder
}

func (jw *jsonWriter) Write(p []byte) (int, error) {
	if !jw.wrote {
		jw.wrote = true
		jw.w.WriteHeader(jw.status)
	}
	return jw.w.Write(p)
}

var jsonWriters = sync.Pool{New: func() any {
	jw := new(jsonWriter)
	jw.enc = json.NewEncoder(jw)
	return jw
}}

// NoStore marks the response as not cacheable, as RFC 6749 §5.1 requires for
// every response that carries tokens or credentials: Cache-Control: no-store
// and, for HTTP/1.0 caches, Pragma: no-cache.
func NoStore(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// WriteRetryAfter sets Retry-After to d in whole seconds (RFC 9110 §10.2.3),
// rounded up so that a client retrying exactly then is not refused again,
// and never less than 1: "Retry-After: 0" invites an immediate retry loop.
func WriteRetryAfter(h http.Header, d time.Duration) {
	secs := int64(math.Ceil(d.Seconds()))
	if secs < 1 {
		secs = 1
	}
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
}
