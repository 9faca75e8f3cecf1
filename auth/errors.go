package auth

import (
	"errors"
	"time"
)

// Code is a stable, machine-readable failure reason.
type Code string

// The codes clients see. Every refusal of a refresh says which of the
// refresh codes applies, so a client can tell "retry" from "sign in again".
const (
	CodeInvalidRequest     Code = "invalid_request"     // bad input (email format, password length)
	CodeInvalidCredentials Code = "invalid_credentials" // unknown email or wrong password (indistinguishable)
	CodeEmailTaken         Code = "email_taken"         // sign-up with an existing email
	CodeRefreshExpired     Code = "refresh_token_expired"
	CodeRefreshReused      Code = "refresh_token_reused" // a superseded token: the session is revoked
	CodeRefreshInvalid     Code = "refresh_token_invalid"
	CodeSessionRevoked     Code = "session_revoked"
	CodeSessionExpired     Code = "session_expired" // the absolute cap has passed
	CodeUserInactive       Code = "user_inactive"
	CodeUserNotFound       Code = "user_not_found"
	CodeInvalidToken       Code = "invalid_token" // a missing, bad or expired access token
	// CodeAccessSuperseded: renewal of an access token whose session has
	// been refreshed since it was issued (a newer generation exists).
	CodeAccessSuperseded Code = "access_token_superseded"
	// CodeClientMismatch: revocation of a token issued to another client
	// than the one the request names (RFC 7009 §2.1).
	CodeClientMismatch Code = "client_mismatch"
	CodeNotFound       Code = "not_found"       // e.g. a session that is not the caller's
	CodeNotImplemented Code = "not_implemented" // access renewal switched off
	CodeRateLimited    Code = "rate_limited"
	CodeUnavailable    Code = "temporarily_unavailable" // database down, hashing saturated
	// CodeCurrentPasswordInvalid: a password change whose current password
	// is wrong (or was changed meanwhile).
	CodeCurrentPasswordInvalid Code = "invalid_current_password"
	// CodeEmailNotVerified: the sign-in of a user whose address must be
	// verified first (REQUIRE_EMAIL_VERIFICATION).
	CodeEmailNotVerified Code = "email_not_verified"
	// CodeEmailTokenInvalid and CodeEmailTokenExpired: a reset or
	// verification token that is not (or no longer) valid: unknown, used,
	// replaced by a newer one, voided by a password change; or expired.
	CodeEmailTokenInvalid Code = "email_token_invalid"
	CodeEmailTokenExpired Code = "email_token_expired"
	// CodeInvalidDPoPProof: a DPoP proof (RFC 9449) that is missing where
	// the session or token is bound to a key, made by another key, or
	// invalid; Error.Reason says which check failed. Nothing is changed.
	CodeInvalidDPoPProof Code = "invalid_dpop_proof"
	// CodeUseDPoPNonce: the proof lacks the server's current nonce (RFC 9449
	// §8); the response carries one in DPoP-Nonce, and the client retries.
	CodeUseDPoPNonce Code = "use_dpop_nonce"
)

// Error is a domain failure: Code and Message are safe to show a client; Err
// is the cause, for logs only.
type Error struct {
	Code       Code
	Message    string
	Err        error
	RetryAfter time.Duration // for CodeRateLimited and CodeUnavailable
	// Reason refines CodeInvalidDPoPProof: which check the proof failed
	// (the dpop package's reasons: missing, htu, iat, replay, key_mismatch, ...).
	Reason string
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, &Error{Code: c}) match on the code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == ""
}

// ErrorCode returns err's Code, or "" when err is not an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func fail(c Code, msg string, cause error) *Error { return &Error{Code: c, Message: msg, Err: cause} }

var messages = map[Code]string{
	CodeInvalidCredentials:     "invalid email or password",
	CodeRefreshExpired:         "the refresh token has expired; sign in again",
	CodeRefreshReused:          "the refresh token was already used; the session has been revoked, sign in again",
	CodeRefreshInvalid:         "the refresh token is invalid",
	CodeSessionRevoked:         "the session has been revoked; sign in again",
	CodeSessionExpired:         "the session has reached its maximum lifetime; sign in again",
	CodeUserInactive:           "the user is not active",
	CodeUserNotFound:           "the user no longer exists",
	CodeInvalidToken:           "the access token is missing, invalid or expired",
	CodeAccessSuperseded:       "the session has been refreshed since this access token was issued; use the newer tokens, or refresh",
	CodeClientMismatch:         "the token was issued to another client",
	CodeNotImplemented:         "access-token renewal is not enabled",
	CodeUnavailable:            "the service is temporarily unavailable; retry later",
	CodeCurrentPasswordInvalid: "the current password is wrong",
	CodeEmailNotVerified:       "the e-mail address is not verified yet: follow the link sent to it, or ask for a new one",
	CodeEmailTokenInvalid:      "the link is invalid or has already been used; ask for a new one",
	CodeEmailTokenExpired:      "the link has expired; ask for a new one",
	CodeInvalidDPoPProof:       "the DPoP proof is missing or invalid",
	CodeUseDPoPNonce:           "the DPoP proof must carry the server's current nonce (DPoP-Nonce)",
}

// newError builds an *Error with the standard message for c.
func newError(c Code, cause error) *Error { return fail(c, messages[c], cause) }
