package httpapi

import (
	"regexp"
	"strings"
)

// jwtLike matches the compact serialisation of a JWS or JWE, whole or cut
// short: base64url runs beginning with "eyJ" (the encoding of `{"`, how every
// JOSE header and JWT payload begins), joined by dots. Signatures and
// payloads of Latchkey's tokens are matched along with their header.
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,4}`)

// credentialLike matches an SSF receiver credential (package ssf: "lkr_"
// and base64url), whole or cut short.
var credentialLike = regexp.MustCompile(`lkr_[A-Za-z0-9_-]*`)

// RedactTokens replaces every JWT-shaped run in s with "[redacted-jwt]",
// and every receiver credential with "[redacted-credential]". The
// access log and the panic log pass client-controlled text through it (the
// URL path, error causes that quote a body): a client that puts a token in a
// path segment or in a JSON key must not get it written to the log
// (RFC 6750 §5.3; OWASP ASVS V7.1.1).
func RedactTokens(s string) string {
	if strings.Contains(s, "eyJ") {
		s = jwtLike.ReplaceAllLiteralString(s, "[redacted-jwt]")
	}
	if strings.Contains(s, "lkr_") {
		s = credentialLike.ReplaceAllLiteralString(s, "[redacted-credential]")
	}
	return s
}
