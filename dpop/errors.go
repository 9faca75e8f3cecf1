package dpop

import "errors"

// Reasons an *Error carries: stable, machine-readable, safe to show a client.
const (
	ReasonMissing     = "missing"        // no DPoP header where one is needed
	ReasonMultiple    = "multiple"       // more than one DPoP header (RFC 9449 §4.3 point 1)
	ReasonMalformed   = "malformed"      // not a compact JWS with JSON header and claims
	ReasonTyp         = "typ"            // typ is not dpop+jwt
	ReasonAlg         = "alg"            // alg not allowed, or not the key's
	ReasonJWK         = "jwk"            // jwk missing, private, or not a usable public key
	ReasonSignature   = "signature"      // signature does not verify with jwk
	ReasonHTM         = "htm"            // htm is not the request's method
	ReasonHTU         = "htu"            // htu is not the request's URL
	ReasonIAT         = "iat"            // iat missing, too old or in the future
	ReasonJTI         = "jti"            // jti missing or too long
	ReasonATH         = "ath"            // ath missing or not the access token's hash
	ReasonUseNonce    = "use_dpop_nonce" // nonce missing, stale or forged (RFC 9449 §8)
	ReasonReplay      = "replay"         // jti already used by this key
	ReasonKeyMismatch = "key_mismatch"   // proof by a key other than the one the token is bound to
)

// Error is a proof that was refused. Reason is one of the Reason constants;
// Detail says more, for logs (it never contains the proof or a token).
type Error struct {
	Reason string
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "dpop: invalid proof: " + e.Reason
	}
	return "dpop: invalid proof: " + e.Reason + ": " + e.Detail
}

// Is makes errors.Is(err, ErrUseNonce) (and the other sentinels) match any
// *Error of the same Reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Detail == "" && t.Reason == e.Reason
}

// Sentinels for errors.Is; each matches every *Error of its Reason.
var (
	ErrMissing     error = &Error{Reason: ReasonMissing}
	ErrUseNonce    error = &Error{Reason: ReasonUseNonce}
	ErrReplay      error = &Error{Reason: ReasonReplay}
	ErrKeyMismatch error = &Error{Reason: ReasonKeyMismatch}
)

// ErrReplayCacheFull is MemoryReplay refusing to remember one more jti: it
// holds its maximum of unexpired entries. The proof is refused (forgetting a
// jti early would let it be replayed); it is not the client's fault.
var ErrReplayCacheFull = errors.New("dpop: replay cache full")

// Reason returns err's Reason when it is (or wraps) an *Error, else "".
func Reason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func fail(reason, detail string) error { return &Error{Reason: reason, Detail: detail} }
