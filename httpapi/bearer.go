package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/latchkey-dev/latchkey/auth"
)

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header (RFC 6750 §2.1): Authorization's credential when its scheme is
// Bearer.
func BearerToken(r *http.Request) (string, bool) {
	tok, isDPoP, ok := Authorization(r)
	return tok, ok && !isDPoP
}

// Authorization returns the credential of an "Authorization: Bearer" or
// "Authorization: DPoP" header (RFC 6750 §2.1, RFC 9449 §7.1) and whether
// its scheme is DPoP. The scheme is matched without regard to case (RFC
// 9110 §11.1) and surrounding spaces are trimmed. It reports false when the
// header is absent, repeated, uses another scheme, or the credential is
// empty or contains a character outside RFC 6750's b64token set (so a
// space, a comma or a second credential never reaches a token verifier).
func Authorization(r *http.Request) (tok string, isDPoP, ok bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", false, false
	}
	scheme, tok, found := strings.Cut(strings.TrimSpace(vals[0]), " ")
	switch {
	case !found:
		return "", false, false
	case strings.EqualFold(scheme, "Bearer"):
	case strings.EqualFold(scheme, "DPoP"):
		isDPoP = true
	default:
		return "", false, false
	}
	tok = strings.TrimLeft(tok, " ")
	if !isB64Token(tok) {
		return "", false, false
	}
	return tok, isDPoP, true
}

// isB64Token reports whether s matches RFC 6750 §2.1:
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// ErrNoBearer is the cause of the refusal of a request that sent no bearer
// token at all: its challenge carries no error code (RFC 6750 §3.1).
var ErrNoBearer = errors.New("httpapi: no bearer token in the request")

// NoBearer is the domain error of a bearer-protected route called without
// an "Authorization: Bearer" header.
func NoBearer() error {
	return &auth.Error{Code: auth.CodeInvalidToken, Message: "an access token is required (Authorization: Bearer)", Err: ErrNoBearer}
}

// BearerChallenge returns the WWW-Authenticate value of a 401 on a
// bearer-protected route, which RFC 6750 §3 requires on every such 401:
// error="invalid_token" when the request carried a token that was refused
// (expired, revoked, superseded, forged), and no error code when it carried
// none (err wraps ErrNoBearer, §3.1).
func BearerChallenge(err error) string {
	if errors.Is(err, ErrNoBearer) {
		return `Bearer realm="latchkey"`
	}
	return `Bearer realm="latchkey", error="invalid_token"`
}
