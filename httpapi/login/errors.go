package login

import (
	"errors"
	"net/http"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
)

// refreshFailure marks the errors of a refresh: every refusal of a refresh
// token is a 400 invalid_grant, whatever the reason (RFC 6749 §5.2), except
// the retryable 429 and 503.
type refreshFailure struct{ error }

func (f refreshFailure) Unwrap() error { return f.error }

// bearerFailure marks the errors of GET /auth/me, which takes a bearer
// access token: a token refused for any reason (invalid, expired, its
// session revoked) is a 401 invalid_token with the RFC 6750 §3 challenge,
// the reason beside it.
type bearerFailure struct{ error }

func (b bearerFailure) Unwrap() error { return b.error }

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Reason      string `json:"error_reason,omitempty"`
}

// Status returns the HTTP status and the RFC 6749 error code of a domain
// failure in this dialect, outside a refresh (see refreshFailure). Codes
// that none of its routes can meet are a 500.
func Status(c auth.Code) (int, string) {
	switch c {
	case auth.CodeInvalidRequest:
		return http.StatusBadRequest, "invalid_request"
	case auth.CodeInvalidCredentials:
		return http.StatusUnauthorized, "invalid_grant"
	case auth.CodeUserInactive, auth.CodeEmailNotVerified:
		return http.StatusForbidden, "invalid_grant"
	case auth.CodeEmailTaken:
		return http.StatusConflict, "invalid_request"
	case auth.CodeRefreshExpired, auth.CodeRefreshReused, auth.CodeRefreshInvalid,
		auth.CodeSessionRevoked, auth.CodeSessionExpired, auth.CodeUserNotFound:
		return http.StatusBadRequest, "invalid_grant"
	case auth.CodeInvalidToken:
		return http.StatusUnauthorized, "invalid_token"
	case auth.CodeInvalidDPoPProof, auth.CodeUseDPoPNonce:
		return http.StatusBadRequest, string(c) // RFC 9449 §5, §8
	case auth.CodeRateLimited:
		return http.StatusTooManyRequests, "slow_down"
	case auth.CodeUnavailable:
		return http.StatusServiceUnavailable, "temporarily_unavailable"
	}
	return http.StatusInternalServerError, "server_error"
}

// WriteError is the login-URL dialect's error mapping (see the package
// documentation for the table). Anything it does not recognise is a 500
// whose cause the access log records and the client never sees.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.NoStore(w)
	status, body := mapError(err, w.Header())
	_ = httpapi.WriteJSON(w, status, body)
}

// mapError returns the status and body of err, and sets the headers the
// response needs (Retry-After, WWW-Authenticate).
func mapError(err error, h http.Header) (int, errorBody) {
	var (
		ae *auth.Error
		he *httpapi.Error
	)
	switch {
	case errors.As(err, &ae):
		status, code := Status(ae.Code)
		if status == http.StatusInternalServerError {
			break
		}
		var (
			rf refreshFailure
			bf bearerFailure
		)
		isDPoP := ae.Code == auth.CodeInvalidDPoPProof || ae.Code == auth.CodeUseDPoPNonce
		switch {
		case errors.As(err, &bf) && isDPoP:
			status = http.StatusUnauthorized // RFC 9449 §7.1, §9
		case isDPoP:
			// The proof's own codes, on a refresh too (RFC 9449 §5, §8).
		case errors.As(err, &rf) && status < 500 && status != http.StatusTooManyRequests:
			status, code = http.StatusBadRequest, "invalid_grant"
		case errors.As(err, &bf) && status < 500 && status != http.StatusTooManyRequests:
			status, code = http.StatusUnauthorized, "invalid_token"
		}
		if ae.RetryAfter > 0 {
			httpapi.WriteRetryAfter(h, ae.RetryAfter)
		}
		if status == http.StatusUnauthorized && (code == "invalid_token" || isDPoP) {
			// RFC 6750 §3 and RFC 9449 §7.1: a 401 for a protected resource
			// names the schemes.
			httpapi.WriteChallenges(h, err)
		}
		reason := string(ae.Code)
		if ae.Reason != "" && isDPoP {
			reason = ae.Reason
		}
		return status, errorBody{Error: code, Description: httpapi.OAuthText(ae.Message), Reason: reason}
	case errors.As(err, &he) && he.Status >= 400 && he.Status < 500:
		// The plumbing's errors and the dialect's own RFC 6749 §5.2 ones
		// (invalid_request, invalid_client, invalid_scope,
		// unsupported_grant_type).
		for k, v := range he.Header {
			h[k] = v
		}
		return he.Status, errorBody{Error: he.Code, Description: httpapi.OAuthText(he.Message), Reason: he.Reason}
	}
	return http.StatusInternalServerError, errorBody{Error: "server_error", Description: "internal error"}
}
