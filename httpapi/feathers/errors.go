package feathers

import (
	"errors"
	"net/http"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
)

// errorBody is a serialised Feathers error (FeathersError.toJSON in
// @feathersjs/errors): the client rebuilds the error class from name.
type errorBody struct {
	Name      string     `json:"name"`
	Message   string     `json:"message"`
	Code      int        `json:"code"`
	ClassName string     `json:"className"`
	Data      *errorData `json:"data,omitempty"`
}

// errorData says why, machine-readably: Latchkey's stable reason code
// (refresh_token_reused, invalid_credentials, ...), so a client can tell
// "retry" from "sign in again".
type errorData struct {
	Reason string `json:"reason"`
	// DPoPReason refines invalid_dpop_proof: which check the proof failed.
	DPoPReason string `json:"dpopReason,omitempty"`
}

// class is a Feathers error class: its name and className.
type class struct{ name, className string }

// classes are the @feathersjs/errors classes this dialect answers with, by
// status. @feathersjs/errors has no 413 class; PayloadTooLarge follows its
// naming, and the client turns an unknown name into a plain Error that still
// carries name, code and className.
var classes = map[int]class{
	http.StatusBadRequest:            {"BadRequest", "bad-request"},
	http.StatusUnauthorized:          {"NotAuthenticated", "not-authenticated"},
	http.StatusForbidden:             {"Forbidden", "forbidden"},
	http.StatusNotFound:              {"NotFound", "not-found"},
	http.StatusMethodNotAllowed:      {"MethodNotAllowed", "method-not-allowed"},
	http.StatusConflict:              {"Conflict", "conflict"},
	http.StatusRequestEntityTooLarge: {"PayloadTooLarge", "payload-too-large"},
	http.StatusTooManyRequests:       {"TooManyRequests", "too-many-requests"},
	http.StatusInternalServerError:   {"GeneralError", "general-error"},
	http.StatusNotImplemented:        {"NotImplemented", "not-implemented"},
	http.StatusServiceUnavailable:    {"Unavailable", "unavailable"},
}

// status is the HTTP status of a domain code in this dialect. Every reason
// to sign in again is a 401 NotAuthenticated: that is the code on which the
// Feathers client drops its stored token.
func status(c auth.Code) int {
	switch c {
	case auth.CodeInvalidCredentials, auth.CodeInvalidToken, auth.CodeUserInactive, auth.CodeUserNotFound,
		auth.CodeRefreshExpired, auth.CodeRefreshReused, auth.CodeRefreshInvalid,
		auth.CodeSessionRevoked, auth.CodeSessionExpired:
		return http.StatusUnauthorized
	case auth.CodeInvalidRequest, auth.CodeInvalidDPoPProof, auth.CodeUseDPoPNonce:
		return http.StatusBadRequest
	case auth.CodeEmailNotVerified:
		// Not a reason to drop a token: there is none yet, and signing in
		// again will not help until the address is verified.
		return http.StatusForbidden
	case auth.CodeEmailTaken:
		return http.StatusConflict
	case auth.CodeNotFound:
		return http.StatusNotFound
	case auth.CodeRateLimited:
		return http.StatusTooManyRequests
	case auth.CodeNotImplemented:
		return http.StatusNotImplemented
	case auth.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// bearerFailure marks the errors of DELETE /authentication, which takes a
// bearer token: its 401s carry the RFC 6750 §3 challenge.
type bearerFailure struct{ error }

func (b bearerFailure) Unwrap() error { return b.error }

// WriteError is the Feathers dialect's error mapping. Domain errors
// (*auth.Error) and plumbing errors (*httpapi.Error) become the Feathers
// error of their status with their code as data.reason; Retry-After and
// other headers they carry are kept. Anything else is a GeneralError whose
// cause is logged by the access log and never shown.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.NoStore(w)
	var (
		ae *auth.Error
		he *httpapi.Error
	)
	code, msg, reason := http.StatusInternalServerError, "internal error", ""
	switch {
	case errors.As(err, &ae):
		code = status(ae.Code)
		if code != http.StatusInternalServerError {
			msg, reason = ae.Message, string(ae.Code)
		}
		if ae.RetryAfter > 0 {
			httpapi.WriteRetryAfter(w.Header(), ae.RetryAfter)
		}
	case errors.As(err, &he) && he.Status < 500:
		if _, ok := classes[he.Status]; ok {
			code, msg, reason = he.Status, he.Message, he.Code
			for k, v := range he.Header {
				w.Header()[k] = append([]string(nil), v...)
			}
		}
	}
	var bf bearerFailure
	if errors.As(err, &bf) && ae != nil && (ae.Code == auth.CodeInvalidDPoPProof || ae.Code == auth.CodeUseDPoPNonce) {
		code = http.StatusUnauthorized // RFC 9449 §7.1, §9
	}
	if code == http.StatusUnauthorized && errors.As(err, &bf) {
		httpapi.WriteChallenges(w.Header(), err)
	}

	c := classes[code]
	body := errorBody{Name: c.name, Message: msg, Code: code, ClassName: c.className}
	if reason != "" {
		body.Data = &errorData{Reason: reason}
		if ae != nil && code < 500 {
			body.Data.DPoPReason = ae.Reason
		}
	}
	_ = httpapi.WriteJSON(w, code, body)
}

// badRequest is a 400 BadRequest for a body this dialect cannot act on.
func badRequest(msg string) error {
	return httpapi.InvalidRequest(msg, nil)
}
