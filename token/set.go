package token

import "errors"

// typSET is the typ header of Security Event Tokens (RFC 8417 §2.3), which
// SSF 1.0 §4.1.1 requires: it keeps a SET from being taken for an access
// token (at+jwt) and the reverse.
const typSET = "secevent+jwt"

// SignSET signs claims, the JSON payload of a Security Event Token, with
// the active access-token key under the header {"alg", "kid", "typ":
// "secevent+jwt"}, so that receivers verify SETs with the key set they
// already fetch for access tokens. The caller builds the claims (SSF 1.0:
// iss, aud, jti, iat, sub_id, events; never sub or exp).
func (i *Issuer) SignSET(claims []byte) (string, error) {
	ks := i.keys.Load()
	if ks == nil {
		return "", errors.New("token: no signing key installed")
	}
	return ks.setSigner.sign(claims)
}
