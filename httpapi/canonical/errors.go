package canonical

import (
	"errors"
	"net/http"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
)

// refreshFailure marks errors of POST /token: every refusal of a refresh
// token is a 400 there, whatever the reason (an expired token and an
// inactive user alike), so the client reads the reason from the body.
type refreshFailure struct{ error }

func (r refreshFailure) Unwrap() error { return r.error }

// bearerFailure marks errors of the routes protected by a bearer access
// token: each of their 401s carries the RFC 6750 §3 challenge.
type bearerFailure struct{ error }

func (b bearerFailure) Unwrap() error { return b.error }

// Status returns the HTTP status of a domain error code in this dialect.
func Status(c auth.Code) int {
	switch c {
	case auth.CodeInvalidRequest, auth.CodeCurrentPasswordInvalid, auth.CodeEmailTokenInvalid, auth.CodeEmailTokenExpired,
		auth.CodeInvalidDPoPProof, auth.CodeUseDPoPNonce:
		return http.StatusBadRequest
	case auth.CodeInvalidCredentials, auth.CodeInvalidToken, auth.CodeAccessSuperseded:
		return http.StatusUnauthorized
	case auth.CodeUserInactive, auth.CodeEmailNotVerified:
		return http.StatusForbidden
	case auth.CodeEmailTaken:
		return http.StatusConflict
	case auth.CodeNotFound, auth.CodeUserNotFound:
		return http.StatusNotFound
	case auth.CodeRateLimited:
		return http.StatusTooManyRequests
	case auth.CodeNotImplemented:
		return http.StatusNotImplemented
	case auth.CodeUnavailable:
		return http.StatusServiceUnavailable
	case auth.CodeRefreshExpired, auth.CodeRefreshReused, auth.CodeRefreshInvalid,
		auth.CodeSessionRevoked, auth.CodeSessionExpired:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	// Reason refines invalid_dpop_proof: which check the proof failed.
	Reason string `json:"reason,omitempty"`
}

// WriteError is the canonical dialect's error mapping. Domain errors keep
// their code; plumbing errors (*httpapi.Error) keep theirs; anything else is
// a 500 whose cause is logged by the access log and never shown. No error
// is cached (Cache-Control: no-store): most answer a request about a token.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.NoStore(w)
	var ae *auth.Error
	if errors.As(err, &ae) {
		status := Status(ae.Code)
		var rf refreshFailure
		if errors.As(err, &rf) && status < 500 && status != http.StatusTooManyRequests {
			status = http.StatusBadRequest
		}
		if ae.RetryAfter > 0 {
			httpapi.WriteRetryAfter(w.Header(), ae.RetryAfter)
		}
		var bf bearerFailure
		isBearer := errors.As(err, &bf)
		if isBearer && (ae.Code == auth.CodeInvalidDPoPProof || ae.Code == auth.CodeUseDPoPNonce) {
			status = http.StatusUnauthorized // RFC 9449 §7.1, §9: a resource's proof failure is a 401
		}
		if status == http.StatusUnauthorized && (isBearer || ae.Code == auth.CodeInvalidToken) {
			// RFC 6750 §3 and RFC 9449 §7.1: every 401 of a route that takes
			// an access token names the schemes, with the error when a token
			// or proof was refused.
			httpapi.WriteChallenges(w.Header(), err)
		}
		_ = httpapi.WriteJSON(w, status, errorBody{Error: string(ae.Code), Message: ae.Message, Reason: ae.Reason})
		return
	}
	httpapi.WriteError(w, r, err)
}
