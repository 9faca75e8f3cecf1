package client

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The error codes a Latchkey server answers with in the canonical dialect
// (docs/api.md).
// They are stable: compare Error.Code with them, never Error.Message.
const (
	CodeInvalidRequest     = "invalid_request"
	CodeInvalidCredentials = "invalid_credentials"
	CodeEmailTaken         = "email_taken"
	CodeInvalidToken       = "invalid_token" // the access token is missing, invalid or expired
	CodeNotFound           = "not_found"
	CodeRateLimited        = "rate_limited"
	CodeUnavailable        = "temporarily_unavailable"
	CodeNotImplemented     = "not_implemented" // e.g. the e-mail flows of a server without a mail server

	// The password lifecycle's refusals.
	CodeInvalidCurrentPassword = "invalid_current_password" // ChangePassword with a wrong current password
	CodeEmailNotVerified       = "email_not_verified"       // SignIn before the address is verified
	CodeEmailTokenInvalid      = "email_token_invalid"      // a reset or verification token unknown, used, replaced or voided
	CodeEmailTokenExpired      = "email_token_expired"      // a reset or verification token past its lifetime

	// The reasons a refresh fails for good: the session cannot be
	// continued and the user has to sign in again (see IsReauthRequired).
	CodeRefreshExpired = "refresh_token_expired"
	CodeRefreshReused  = "refresh_token_reused"
	CodeRefreshInvalid = "refresh_token_invalid"
	CodeSessionRevoked = "session_revoked"
	CodeSessionExpired = "session_expired"
	CodeUserInactive   = "user_inactive"
	CodeUserNotFound   = "user_not_found"

	// DPoP (RFC 9449, WithDPoP). CodeInvalidDPoPProof: the server refused
	// the request's proof, Error.Reason says why (e.g. "iat" for a clock
	// far off, "key_mismatch" when the session is bound to another key).
	// CodeUseDPoPNonce: the proof lacked the server's current nonce; the
	// client retries by itself with the nonce the answer carried, so this
	// reaches the caller only when that failed too.
	CodeInvalidDPoPProof = "invalid_dpop_proof"
	CodeUseDPoPNonce     = "use_dpop_nonce"
)

// ErrNotSignedIn is returned by calls that need tokens when the client has
// none: before SignIn, after SignOut, or after the server ended the session.
// IsReauthRequired reports true for it.
var ErrNotSignedIn = errors.New("latchkey: not signed in")

// Error is a failure answered by the server: an HTTP status of 400 or more,
// with the machine-readable Code and the human-readable Message of the
// canonical error body ({"error": code, "message": text}). Code is empty
// when the body was not a Latchkey error (a proxy's HTML page, say).
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is the server's Retry-After (RFC 9110 §10.2.3), for 429
	// and 503 answers; zero when absent or not a valid value, and at most
	// MaxRetryAfter.
	RetryAfter time.Duration
	// Reason refines some codes: which check a DPoP proof failed
	// (CodeInvalidDPoPProof).
	Reason string
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code == "" {
		return fmt.Sprintf("latchkey: %d: %s", e.Status, msg)
	}
	return fmt.Sprintf("latchkey: %d %s: %s", e.Status, e.Code, msg)
}

// IsReauthRequired reports whether err means the session is over and the
// user has to sign in again: the refresh token expired, was reused, or is
// invalid; the session was revoked or reached its maximum lifetime; the user
// is inactive or gone; the session is bound to a DPoP key the client does
// not hold (CodeInvalidDPoPProof with Reason "key_mismatch" or "missing");
// or the client holds no tokens (ErrNotSignedIn).
// Other errors (network failures, 429, 5xx, ErrOnTokensFailed) are worth
// retrying later with the same tokens; the client itself waits before it
// refreshes again (see Client.Refresh).
func IsReauthRequired(err error) bool {
	if errors.Is(err, ErrNotSignedIn) {
		return true
	}
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return reauthCode(e.Code) || e.Code == CodeInvalidDPoPProof && (e.Reason == "key_mismatch" || e.Reason == "missing")
}

func reauthCode(code string) bool {
	switch code {
	case CodeRefreshExpired, CodeRefreshReused, CodeRefreshInvalid,
		CodeSessionRevoked, CodeSessionExpired, CodeUserInactive, CodeUserNotFound:
		return true
	}
	return false
}

// MaxRetryAfter is the longest Retry-After the client honours: a longer
// one (a day, or more than a time.Duration holds) is taken as this long.
// Such a value comes from a misconfigured server or proxy, not from a
// Latchkey server (its rate limits ask for at most a minute for a refresh);
// honoured as it is, it would keep a session from refreshing, with its
// user unable to work, for as long, while one refresh per MaxRetryAfter
// puts no load on any server.
const MaxRetryAfter = 10 * time.Minute

// retryAfter parses a Retry-After header: delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3), the latter measured from now, the answer's Date; at most
// MaxRetryAfter.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0
		}
		if s > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter // before multiplying: a huge s overflows
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, MaxRetryAfter)
		}
	}
	return 0
}
