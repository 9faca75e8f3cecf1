package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// Recover turns a panic in the handler into a generic 500, so that one bug
// costs one request and not the connection or the process.
//
// The response says nothing of the panic: it is written by ew (the first
// given; WriteError if none) with an *Error of status 500, code
// "internal_error" and message "internal error", whose Cause holds the panic
// value. With WriteError the body is exactly
// {"error":"internal_error","message":"internal error"}. Headers the handler
// had set that would contradict the error (a new session cookie, a redirect,
// a length) are dropped first.
//
// The panic value and the stack are logged at error level with the method
// and path, never the query, headers or body of the request, and never in
// the response. If the handler had already started its response, the 500
// cannot be sent: the connection is aborted (http.ErrAbortHandler) so the
// client sees a truncated response rather than a complete-looking one. A
// panic with http.ErrAbortHandler itself is passed on untouched.
func Recover(logger *slog.Logger, ew ...ErrorWriter) Middleware {
	write := ErrorWriter(WriteError)
	if len(ew) > 0 && ew[0] != nil {
		write = ew[0]
	}
	if logger == nil {
		logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := NewStatusRecorder(w)
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				cause := fmt.Errorf("panic: %v", v)
				logger.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
					slog.String("method", r.Method),
					slog.String("path", RedactTokens(r.URL.Path)),
					slog.Any("panic", v),
					slog.String("stack", string(debug.Stack())),
				)
				rec.err = cause
				if rec.Written() {
					panic(http.ErrAbortHandler)
				}
				h := rec.Header()
				for _, k := range []string{"Set-Cookie", "Location", "Content-Length", "Content-Encoding", "Content-Disposition", "Etag", "Last-Modified"} {
					h.Del(k)
				}
				write(rec, r, internalError(cause))
			}()
			next.ServeHTTP(rec, r)
		})
	}
}
