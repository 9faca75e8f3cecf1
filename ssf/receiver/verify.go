package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Event type URIs (OpenID CAEP 1.0, SSF 1.0).
const (
	eventSessionRevoked   = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	eventCredentialChange = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
	eventVerification     = "https://schemas.openid.net/secevent/ssf/event-type/verification"
)

// maxSETBytes bounds a SET the receiver parses.
const maxSETBytes = 64 << 10

// setError is why a SET was not applied, with its RFC 8935 §2.4 error code
// (also used in RFC 8936 setErrs).
type setError struct {
	code string // invalid_request, invalid_key, invalid_issuer, invalid_audience
	msg  string
}

func (e *setError) Error() string { return e.code + ": " + e.msg }

func invalid(code, format string, args ...any) error {
	return &setError{code: code, msg: fmt.Sprintf(format, args...)}
}

// setErrCode returns the error code of err for the transmitter.
func setErrCode(err error) string {
	var se *setError
	if errors.As(err, &se) {
		return se.code
	}
	return "invalid_request"
}

// subject is a Subject Identifier (RFC 9493) or an SSF complex subject.
type subject struct {
	Format  string   `json:"format"`
	ID      string   `json:"id"`
	Session *subject `json:"session"`
}

// claims are the SET claims the receiver reads.
type claims struct {
	Iss    string                     `json:"iss"`
	Aud    json.RawMessage            `json:"aud"`
	Jti    string                     `json:"jti"`
	Iat    *float64                   `json:"iat"`
	Exp    json.RawMessage            `json:"exp"`
	Sub    json.RawMessage            `json:"sub"`
	SubID  subject                    `json:"sub_id"`
	Events map[string]json.RawMessage `json:"events"`
}

// verified is a SET that passed every check.
type verified struct {
	jti    string
	claims claims
}

// verify checks a SET (RFC 8417, SSF 1.0 §4.1): a JWS signed by a key of the
// transmitter's JWKS (asymmetric algorithms only, plus HS256 when a secret
// is configured), typ secevent+jwt, iss the transmitter, aud this
// receiver's stream, a jti, an iat, at least one event, and neither sub nor
// exp (SSF 1.0 §4.1.3 forbids both, against confusion with other JWTs).
func (r *Receiver) verify(ctx context.Context, raw, aud string) (verified, error) {
	if len(raw) > maxSETBytes {
		return verified{}, invalid("invalid_request", "the SET is larger than 64 KiB")
	}
	algs := []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256}
	if len(r.o.HS256Secret) > 0 {
		algs = append(algs, jose.HS256)
	}
	// A SET is a JWT: compact serialization only (RFC 7519 §1). The JSON
	// serialization has an unprotected header, outside the signature, where
	// a typ would not be the signer's.
	jws, err := jose.ParseSignedCompact(strings.TrimSpace(raw), algs)
	if err != nil {
		return verified{}, invalid("invalid_request", "not a signed JWT: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return verified{}, invalid("invalid_request", "want exactly one signature")
	}
	h := jws.Signatures[0].Header
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(typ, "secevent+jwt") && !strings.EqualFold(typ, "application/secevent+jwt") {
		return verified{}, invalid("invalid_request", "typ %q is not secevent+jwt", typ)
	}
	var payload []byte
	if jose.SignatureAlgorithm(h.Algorithm) == jose.HS256 {
		payload, err = jws.Verify(r.o.HS256Secret)
	} else {
		r.mu.Lock()
		keys := r.keys
		r.mu.Unlock()
		key, kerr := keys.key(ctx, h.KeyID)
		if kerr != nil {
			return verified{}, invalid("invalid_key", "%v", kerr)
		}
		if key.Algorithm != h.Algorithm {
			return verified{}, invalid("invalid_key", "key %q is for %s, the SET says %s", h.KeyID, key.Algorithm, h.Algorithm)
		}
		payload, err = jws.Verify(key.Key)
	}
	if err != nil {
		return verified{}, invalid("invalid_key", "the signature does not verify")
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return verified{}, invalid("invalid_request", "malformed claims: %v", err)
	}
	switch {
	case c.Iss != r.o.Issuer:
		return verified{}, invalid("invalid_issuer", "iss %q is not %q", c.Iss, r.o.Issuer)
	case !hasAudience(c.Aud, aud):
		return verified{}, invalid("invalid_audience", "aud is not this receiver's %q", aud)
	case c.Jti == "":
		return verified{}, invalid("invalid_request", "no jti")
	case c.Iat == nil:
		return verified{}, invalid("invalid_request", "no iat")
	case len(c.Events) == 0:
		return verified{}, invalid("invalid_request", "no event")
	case len(c.Exp) > 0 || len(c.Sub) > 0:
		return verified{}, invalid("invalid_request", "a SET carries neither exp nor sub")
	}
	return verified{jti: c.Jti, claims: c}, nil
}

// hasAudience reports whether the aud claim (a string or an array of
// strings) names want.
func hasAudience(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return false
	}
	for _, a := range many {
		if a == want {
			return true
		}
	}
	return false
}

// apply acts on a verified SET: a revoked session joins the set; a
// verification event's state is returned, for the caller to mark the
// receiver ready with (verified) once everything delivered with it is
// applied too. Other events (credential-change: its sessions come as session-revoked
// events of their own; types it does not know) are acknowledged and
// otherwise ignored, as SSF 1.0 §4.2.3 asks.
func (r *Receiver) apply(v verified) (state string, err error) {
	for typ, body := range v.claims.Events {
		switch typ {
		case eventSessionRevoked:
			sid := v.claims.SubID.ID
			if v.claims.SubID.Format == "complex" {
				sid = ""
				if s := v.claims.SubID.Session; s != nil {
					sid = s.ID
				}
			}
			if sid == "" {
				return "", invalid("invalid_request", "a session-revoked event without a session subject")
			}
			var ev struct {
				MaxTokenExp    *float64 `json:"max_token_exp"`
				EventTimestamp *float64 `json:"event_timestamp"`
			}
			if err := json.Unmarshal(body, &ev); err != nil {
				return "", invalid("invalid_request", "malformed session-revoked event: %v", err)
			}
			now := r.now()
			var until time.Time
			switch {
			case ev.MaxTokenExp != nil:
				until = time.Unix(int64(*ev.MaxTokenExp), 0)
			case ev.EventTimestamp != nil:
				until = time.Unix(int64(*ev.EventTimestamp), 0).Add(r.o.FallbackLifetime)
			default:
				until = now.Add(r.o.FallbackLifetime)
			}
			// A token is accepted up to Leeway past its exp.
			r.set.add(sid, until.Add(r.o.Leeway).UnixNano(), now.UnixNano())
		case eventVerification:
			var ev struct {
				State string `json:"state"`
			}
			if err := json.Unmarshal(body, &ev); err != nil {
				return "", invalid("invalid_request", "malformed verification event: %v", err)
			}
			state = ev.State
		}
	}
	return state, nil
}
