package cookie

import (
	"errors"
	"net/http"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
)

type errorBody struct {
	Message string `json:"message"`
	Error   string `json:"error"`
	// Reason refines invalid_dpop_proof: which check the proof failed.
	Reason string `json:"reason,omitempty"`
}

// Status returns the HTTP status of a domain failure in this dialect and
// whether the code is one its route can meet; unknown codes are a 500.
func Status(c auth.Code) (int, bool) {
	switch c {
	case auth.CodeRefreshExpired, auth.CodeRefreshReused, auth.CodeRefreshInvalid,
		auth.CodeSessionRevoked, auth.CodeSessionExpired, auth.CodeUserInactive, auth.CodeInvalidRequest,
		auth.CodeInvalidDPoPProof, auth.CodeUseDPoPNonce:
		return http.StatusBadRequest, true
	case auth.CodeUserNotFound:
		return http.StatusNotFound, true
	case auth.CodeRateLimited:
		return http.StatusTooManyRequests, true
	case auth.CodeUnavailable:
		return http.StatusServiceUnavailable, true
	}
	return http.StatusInternalServerError, false
}

// WriteError is the cookie dialect's error mapping: {"message", "error"}
// with the statuses of the package documentation.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.NoStore(w)
	var (
		ae *auth.Error
		he *httpapi.Error
	)
	status, body := http.StatusInternalServerError, errorBody{Message: "internal error", Error: httpapi.CodeInternal}
	switch {
	case errors.As(err, &ae):
		if s, ok := Status(ae.Code); ok {
			if ae.RetryAfter > 0 {
				httpapi.WriteRetryAfter(w.Header(), ae.RetryAfter)
			}
			status, body = s, errorBody{Message: ae.Message, Error: string(ae.Code), Reason: ae.Reason}
		}
	case errors.As(err, &he) && he.Status >= 400 && he.Status < 500:
		// The plumbing's errors and the dialect's own (no cookie, a
		// cross-site request, cookies switched off).
		for k, v := range he.Header {
			w.Header()[k] = v
		}
		status, body = he.Status, errorBody{Message: he.Message, Error: he.Code}
	}
	_ = httpapi.WriteJSON(w, status, body)
}
