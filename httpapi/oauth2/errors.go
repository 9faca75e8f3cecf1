package oauth2

import (
	"errors"
	"net/http"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
)

// Error is an RFC 6749 §5.2 error.
type Error struct {
	Status      int
	Code        string // invalid_request, invalid_client, invalid_grant, unsupported_grant_type, ...
	Description string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Reason      string `json:"error_reason,omitempty"`
}

// WriteError maps every failure of this dialect to RFC 6749 §5.2's shape.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.NoStore(w)
	var (
		oe *Error
		ae *auth.Error
		he *httpapi.Error
	)
	switch {
	case errors.As(err, &oe):
		if oe.Code == "invalid_client" {
			// RFC 6749 §5.2: a 401 for client authentication names the scheme.
			w.Header().Set("WWW-Authenticate", `Basic realm="latchkey"`)
		}
		_ = httpapi.WriteJSON(w, oe.Status, errorBody{Error: oe.Code, Description: oe.Description})
	case errors.As(err, &ae):
		status, code := http.StatusBadRequest, "invalid_grant"
		switch ae.Code {
		case auth.CodeInvalidRequest:
			code = "invalid_request"
		case auth.CodeRateLimited:
			status, code = http.StatusTooManyRequests, "slow_down"
		case auth.CodeUnavailable:
			status, code = http.StatusServiceUnavailable, "temporarily_unavailable"
		case auth.CodeNotFound, auth.CodeNotImplemented, auth.CodeEmailTaken:
			code = "invalid_request"
		}
		if ae.RetryAfter > 0 {
			httpapi.WriteRetryAfter(w.Header(), ae.RetryAfter)
		}
		_ = httpapi.WriteJSON(w, status, errorBody{Error: code, Description: ae.Message, Reason: string(ae.Code)})
	case errors.As(err, &he) && he.Status < 500:
		for k, v := range he.Header {
			w.Header()[k] = v
		}
		code := he.Code
		if code != "invalid_request" && he.Status == http.StatusBadRequest {
			code = "invalid_request"
		}
		_ = httpapi.WriteJSON(w, he.Status, errorBody{Error: code, Description: he.Message})
	default:
		_ = httpapi.WriteJSON(w, http.StatusInternalServerError, errorBody{Error: "server_error", Description: "internal error"})
	}
}

func invalidRequest(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: desc}
}
