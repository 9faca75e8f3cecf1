package openapitest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/latchkey-dev/latchkey/httpapi"
)

// maxCapture bounds the request body kept for validation; a longer body
// (far over the server's 64 KiB limit) is passed through and checked as
// violating the document.
const maxCapture = 1 << 20

// Recorder collects violations from the server's goroutines, to be reported
// by the test's own goroutine.
type Recorder struct {
	mu         sync.Mutex
	violations []string
	counts     [3]int
}

// Violations returns what was recorded so far.
func (r *Recorder) Violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.violations...)
}

// Counts returns how many exchanges were checked against an operation,
// checked as undocumented routes, and skipped.
func (r *Recorder) Counts() (checked, unrouted, skipped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[Checked], r.counts[Unrouted], r.counts[Skipped]
}

func (r *Recorder) add(o Outcome, vs []string) {
	r.mu.Lock()
	r.counts[o]++
	r.violations = append(r.violations, vs...)
	r.mu.Unlock()
}

// Middleware wraps h so that every exchange is checked once h has answered.
// It buffers the request body (and hands h an identical one) and records the
// response as h writes it.
func (c *Contract) Middleware(h http.Handler, enabled func(dialect string) bool, rec *Recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil && r.Body != http.NoBody {
			var err error
			body, err = io.ReadAll(io.LimitReader(r.Body, maxCapture))
			if err != nil {
				rec.add(Skipped, []string{fmt.Sprintf("%s %s: reading the request body: %v", r.Method, r.URL.Path, err)})
			}
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		}
		// The handler may change the request it is given; check a copy.
		req := r.Clone(r.Context())
		cw := &captureWriter{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		if cw.status == 0 {
			cw.WriteHeader(http.StatusOK) // what net/http sends for a handler that wrote nothing
		}
		if cw.status == httpapi.StatusClientClosedRequest && r.Context().Err() != nil {
			// The client went away: nothing reached it, so nothing to check.
			rec.add(Skipped, []string{fmt.Sprintf("%s %s: the client closed the request", r.Method, r.URL.Path)})
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		out, vs := c.Check(Exchange{Request: req, RequestBody: body, Status: cw.status, Header: cw.header, Body: cw.body.Bytes()}, enabled)
		for i, v := range vs {
			vs[i] = fmt.Sprintf("%s %s → %d: %s", r.Method, r.URL.RequestURI(), cw.status, v)
		}
		rec.add(out, vs)
	})
}

// captureWriter records the status, the headers as they were when the
// status was sent, and the body.
type captureWriter struct {
	http.ResponseWriter
	status int
	header http.Header
	body   bytes.Buffer
}

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 && code >= 200 {
		c.status = code
		c.header = c.ResponseWriter.Header().Clone()
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	c.body.Write(p)
	return c.ResponseWriter.Write(p)
}

// Flush keeps http.Flusher working through the wrapper.
func (c *captureWriter) Flush() {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
