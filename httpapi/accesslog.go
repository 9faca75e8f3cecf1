package httpapi

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"
)

// AccessLog logs one line per request, after it is served: method, path,
// status, response bytes, duration and client address (found with ip), and,
// when a Handle-wrapped handler returned one, the error with its cause. That
// makes the access log the one place where a failure's server-only cause is
// recorded, next to the status the client saw.
//
// It deliberately leaves out the query string, every header and both
// bodies: tokens travel in query strings (RFC 6750 §2.3), Authorization and
// Cookie headers, and request bodies (passwords), and none of them may reach
// a log. The path and the error pass through RedactTokens, since a
// client may put a token in a path segment or a JSON key that an error
// quotes.
//
// Responses with a 5xx status are logged at error level, the rest at info.
// Put AccessLog outside Recover, so that a recovered panic is logged with the
// 500 that Recover wrote.
func AccessLog(logger *slog.Logger, ip ClientIP) Middleware {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := NewStatusRecorder(w)
			defer func() {
				// Also runs when a panic passes through (http.ErrAbortHandler,
				// or Recover wrongly placed outside AccessLog).
				status := rec.Status()
				if status == 0 {
					status = http.StatusOK // what net/http sends for a silent handler
				}
				level := slog.LevelInfo
				if status >= 500 {
					level = slog.LevelError
				}
				attrs := []slog.Attr{
					slog.String("method", r.Method),
					slog.String("path", RedactTokens(r.URL.Path)),
					slog.Int("status", status),
					slog.Int64("bytes", rec.Bytes()),
					slog.Duration("duration", time.Since(start)),
					slog.String("ip", addrString(ip.Of(r))),
				}
				if err := rec.Err(); err != nil {
					attrs = append(attrs, slog.String("error", RedactTokens(err.Error())))
				}
				logger.LogAttrs(r.Context(), level, "http request", attrs...)
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
