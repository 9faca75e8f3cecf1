package ssf

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// Event type URIs (OpenID CAEP 1.0 §3, SSF 1.0 §8.1.4).
const (
	EventTypeSessionRevoked   = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	EventTypeCredentialChange = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
	EventTypeVerification     = "https://schemas.openid.net/secevent/ssf/event-type/verification"
)

// supported maps the event types a stream can ask for to the kinds the feed
// records. Verification events are not asked for: a stream always gets its
// own.
var supported = []struct {
	uri  string
	kind store.EventKind
}{
	{EventTypeSessionRevoked, store.EventSessionRevoked},
	{EventTypeCredentialChange, store.EventCredentialChange},
}

// eventsSupported returns the URIs of supported.
func eventsSupported() []string {
	out := make([]string, len(supported))
	for i, s := range supported {
		out[i] = s.uri
	}
	return out
}

// delivered returns the kinds of the supported event types in requested,
// ignoring the others (SSF 1.0 §8.1.1: a transmitter ignores what it does
// not understand).
func delivered(requested []string) []store.EventKind {
	out := []store.EventKind{}
	for _, s := range supported {
		for _, r := range requested {
			if r == s.uri {
				out = append(out, s.kind)
				break
			}
		}
	}
	return out
}

// deliveredURIs returns the URIs of kinds.
func deliveredURIs(kinds []store.EventKind) []string {
	out := []string{}
	for _, s := range supported {
		for _, k := range kinds {
			if k == s.kind {
				out = append(out, s.uri)
			}
		}
	}
	return out
}

// subjectID is a Subject Identifier (RFC 9493) or an SSF complex subject
// (SSF 1.0 §3.3).
type subjectID struct {
	Format  string     `json:"format"`
	ID      string     `json:"id,omitempty"`  // opaque
	Iss     string     `json:"iss,omitempty"` // iss_sub
	Sub     string     `json:"sub,omitempty"` // iss_sub
	Session *subjectID `json:"session,omitempty"`
	User    *subjectID `json:"user,omitempty"`
}

// setClaims is a SET's payload (RFC 8417 §2.2, profiled by SSF 1.0 §4.1:
// a top-level sub_id, no sub, no exp).
type setClaims struct {
	Iss    string                    `json:"iss"`
	Aud    string                    `json:"aud"`
	Jti    string                    `json:"jti"`
	Iat    int64                     `json:"iat"`
	Txn    string                    `json:"txn,omitempty"`
	SubID  subjectID                 `json:"sub_id"`
	Events map[string]map[string]any `json:"events"`
}

// initiatingEntity says who caused a revocation (CAEP 1.0 §2), from the
// session's revoke reason.
func initiatingEntity(reason string) string {
	switch reason {
	case "signed_out", "signed_out_elsewhere", "signed_out_everywhere", "revoked_by_user", "token_revoked", "password_changed",
		"password_reset":
		return "user"
	case "revoked_by_admin", "user_deactivated", "password_set_by_admin":
		return "admin"
	case "refresh_token_reused", "session_limit", "user_inactive", "user_not_found":
		return "policy"
	}
	return "system"
}

// buildSET returns the payload of the SET that delivers e to a stream whose
// audience is aud. iat is the event's time, so every delivery of an event
// carries the same claims; only the signature may differ (a rotated key).
func (t *Transmitter) buildSET(e store.Event, aud string) ([]byte, error) {
	c := setClaims{Iss: t.o.Issuer, Aud: aud, Jti: e.ID, Iat: e.At.Unix(), Txn: e.Txn}
	user := &subjectID{Format: "iss_sub", Iss: t.o.Issuer, Sub: e.UserID}
	switch e.Kind {
	case store.EventSessionRevoked:
		c.SubID = subjectID{Format: "complex", Session: &subjectID{Format: "opaque", ID: e.SessionID}, User: user}
		ev := map[string]any{"event_timestamp": e.At.Unix(), "initiating_entity": initiatingEntity(e.Reason),
			// Latchkey's own member (SSF 1.0 §4.2.3 allows them): no access
			// token of the session expires later than this, so a receiver
			// may forget the session after it (plus its leeway).
			"max_token_exp": maxTokenExp(e.At, t.o.AccessTTL)}
		if e.Reason != "" {
			ev["reason_admin"] = map[string]string{"en": e.Reason}
		}
		c.Events = map[string]map[string]any{EventTypeSessionRevoked: ev}
	case store.EventCredentialChange:
		c.SubID = *user
		c.Events = map[string]map[string]any{EventTypeCredentialChange: {
			"credential_type": "password", "change_type": "update", "event_timestamp": e.At.Unix(),
			"initiating_entity": initiatingEntity(e.Reason)}}
	case store.EventVerification:
		// SSF 1.0 §8.1.4.1: the subject is the stream.
		c.SubID = subjectID{Format: "opaque", ID: e.StreamID}
		ev := map[string]any{}
		if e.State != "" {
			ev["state"] = e.State
		}
		c.Events = map[string]map[string]any{EventTypeVerification: ev}
	default:
		return nil, fmt.Errorf("ssf: event %s has unknown kind %q", e.ID, e.Kind)
	}
	return json.Marshal(c)
}

// maxTokenExp is the latest exp of an access token minted before at: at +
// the lifetime, rounded up to the second as exp is.
func maxTokenExp(at time.Time, ttl time.Duration) int64 {
	exp := at.Add(ttl)
	s := exp.Unix()
	if exp.Nanosecond() > 0 {
		s++
	}
	return s
}

// signSET builds and signs the SET of e for a stream of audience aud.
func (t *Transmitter) signSET(e store.Event, aud string) (string, error) {
	claims, err := t.buildSET(e, aud)
	if err != nil {
		return "", err
	}
	return t.o.Tokens.SignSET(claims)
}
