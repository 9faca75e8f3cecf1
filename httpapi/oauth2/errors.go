package oauth2

import (
	"errors"
	"net/http"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
)

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Reason      string `json:"error_reason,omitempty"`
	// DPoPReason refines invalid_dpop_proof: which check the proof failed.
	DPoPReason string `json:"dpop_reason,omitempty"`
}

// WriteError maps every failure of this dialect to RFC 6749 §5.2's shape,
// error_description restricted to the characters §5.2 allows (OAuthText).
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.NoStore(w)
	var (
		ae *auth.Error
		he *httpapi.Error
	)
	switch {
	case errors.As(err, &ae):
		status, code := http.StatusBadRequest, "invalid_grant"
		switch ae.Code {
		case auth.CodeInvalidRequest:
			code = "invalid_request"
		case auth.CodeClientMismatch:
			// RFC 7009 §2.1 refuses the revocation of another client's
			// token; RFC 6749 §5.2 has no closer code.
			code = "unauthorized_client"
		case auth.CodeRateLimited:
			status, code = http.StatusTooManyRequests, "slow_down"
		case auth.CodeUnavailable:
			status, code = http.StatusServiceUnavailable, "temporarily_unavailable"
		case auth.CodeNotFound, auth.CodeNotImplemented, auth.CodeEmailTaken:
			code = "invalid_request"
		case auth.CodeInvalidDPoPProof, auth.CodeUseDPoPNonce:
			// RFC 9449 §5 and §8: the token endpoint's own error codes.
			code = string(ae.Code)
		}
		if ae.RetryAfter > 0 {
			httpapi.WriteRetryAfter(w.Header(), ae.RetryAfter)
		}
		_ = httpapi.WriteJSON(w, status, errorBody{Error: code, Description: httpapi.OAuthText(ae.Message), Reason: string(ae.Code),
			DPoPReason: ae.Reason})
	case errors.As(err, &he) && he.Status < 500:
		// The plumbing's errors and the dialect's own RFC 6749 §5.2 ones.
		for k, v := range he.Header {
			w.Header()[k] = v
		}
		_ = httpapi.WriteJSON(w, he.Status, errorBody{Error: he.Code, Description: httpapi.OAuthText(he.Message), Reason: he.Reason})
	default:
		_ = httpapi.WriteJSON(w, http.StatusInternalServerError, errorBody{Error: "server_error", Description: "internal error"})
	}
}

// invalidClient is RFC 6749 §5.2's invalid_client: a 401 for client
// authentication, which names the scheme the client may use.
func invalidClient(desc string) *httpapi.Error {
	h := http.Header{}
	h.Set("WWW-Authenticate", `Basic realm="latchkey"`)
	return &httpapi.Error{Status: http.StatusUnauthorized, Code: "invalid_client", Message: desc, Header: h}
}
