package httpapi

import "net/http"

// StatusRecorder is an http.ResponseWriter that remembers the status code,
// the number of body bytes written, and the error a Handle-wrapped handler
// returned. AccessLog, Recover and Handle use it to learn whether a response
// has started; metrics middleware can use it too.
//
// It exposes the wrapped writer through Unwrap, so http.ResponseController
// still reaches Flush, Hijack and the deadline setters of the underlying
// writer. Flush is also implemented directly for code that asserts
// http.Flusher.
type StatusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	err    error
}

// NewStatusRecorder wraps w. If w already is a *StatusRecorder it is returned
// as is, so nesting middleware does not stack recorders.
func NewStatusRecorder(w http.ResponseWriter) *StatusRecorder {
	if rec, ok := w.(*StatusRecorder); ok {
		return rec
	}
	return &StatusRecorder{ResponseWriter: w}
}

// WriteHeader records the first final status and passes it on. Informational
// statuses (1xx other than 101) do not start the response and are not
// recorded.
func (s *StatusRecorder) WriteHeader(code int) {
	if s.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and counts the bytes written.
func (s *StatusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

// Flush flushes the underlying writer if it can; a successful flush commits
// the headers, so it counts as writing a 200.
func (s *StatusRecorder) Flush() {
	if err := http.NewResponseController(s.ResponseWriter).Flush(); err == nil && s.status == 0 {
		s.status = http.StatusOK
	}
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Status returns the status written so far, or 0 if the response has not
// started. net/http answers 200 when a handler returns without writing.
func (s *StatusRecorder) Status() int { return s.status }

// Written reports whether the status line has been sent, after which no
// other status can be chosen.
func (s *StatusRecorder) Written() bool { return s.status != 0 }

// Bytes returns the number of body bytes written.
func (s *StatusRecorder) Bytes() int64 { return s.bytes }

// Err returns the error the handler returned through Handle, or nil.
func (s *StatusRecorder) Err() error { return s.err }

// findRecorder returns the first *StatusRecorder in w's Unwrap chain.
func findRecorder(w http.ResponseWriter) *StatusRecorder {
	for w != nil {
		if rec, ok := w.(*StatusRecorder); ok {
			return rec
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}
