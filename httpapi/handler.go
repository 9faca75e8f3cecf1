package httpapi

import (
	"context"
	"errors"
	"net/http"
)

// HandlerFunc is an HTTP handler that returns its failure instead of writing
// it. It writes the success response itself (usually with WriteJSON).
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ErrorWriter writes the response for a handler's error. Each dialect has
// exactly one: its single mapping from errors (domain errors, *Error, anything
// else) to its status codes and error body. Anything it does not recognise
// must become a generic 500 whose body reveals nothing of the cause.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)

// Handle adapts h to an http.Handler. When h returns an error and has not
// yet written a status, Handle calls ew to write the error response; when h
// has already started its response, the error cannot be reported to the
// client any more and is only recorded. Either way the error is recorded on
// the request's StatusRecorder (see AccessLog), so that its cause is logged
// once, next to the status, by the access log.
//
// A nil ew means WriteError.
func Handle(h HandlerFunc, ew ErrorWriter) http.Handler {
	if ew == nil {
		ew = WriteError
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reuse the access log's recorder when it is the writer we were
		// given: it already knows whether anything was written, and no
		// second wrapper needs allocating on the hot path.
		rec, ok := w.(*StatusRecorder)
		if !ok {
			rec = &StatusRecorder{ResponseWriter: w}
		}
		err := h(rec, r)
		if err == nil {
			return
		}
		if outer := findRecorder(w); outer != nil {
			outer.err = err
		}
		if rec.Written() {
			return
		}
		if ClientGone(r, err) {
			// Nobody reads the answer and nothing failed: not a 5xx for the
			// access log and the dashboards.
			rec.WriteHeader(StatusClientClosedRequest)
			return
		}
		ew(rec, r, err)
	})
}

// WriteError is a dialect-neutral ErrorWriter for routes that belong to no
// dialect (health checks, metadata) and the fallback of Handle and Recover.
// It writes an *Error as {"error": Code, "message": Message} with its status
// and headers, and anything else as a 500 {"error": "internal_error",
// "message": "internal error"} that reveals nothing of the cause.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) || e.Status < 400 || e.Status > 599 {
		e = internalError(err)
	}
	h := w.Header()
	for k, vs := range e.Header {
		h[k] = append(h[k][:0:0], vs...)
	}
	if e.Status >= 500 {
		NoStore(w)
	}
	_ = WriteJSON(w, e.Status, errorBody{Error: e.Code, Message: e.Message})
}

// errorBody is the body WriteError writes.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// internalError is the generic 500 for a failure the client must learn
// nothing about.
func internalError(cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", Cause: cause}
}

// StatusClientClosedRequest is the status recorded for a request whose client
// went away before it was answered (nginx's 499, "client closed request"):
// nobody receives it, but the access log and metrics see it.
const StatusClientClosedRequest = 499

// ClientGone reports whether err is the request's own cancellation: the
// client closed the connection (or the server is stopping) while the request
// was being served, and the cancellation came back wrapped in whatever the
// call on the way made of it (store.ErrUnavailable, "keys unavailable"). Such
// a request failed no one; it must not count as a 5xx.
func ClientGone(r *http.Request, err error) bool {
	return errors.Is(err, context.Canceled) && errors.Is(r.Context().Err(), context.Canceled)
}
