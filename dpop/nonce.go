package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// DefaultNonceStep is how long a server nonce is current.
const DefaultNonceStep = 5 * time.Minute

// Nonces issues and checks server nonces (RFC 9449 §8) without state: a
// nonce is a time step and an HMAC of it under a secret, so every instance
// given the same secret issues the same nonce and accepts the others'
// without asking a database. The nonce of the current step and of the ones
// just before and after (instances' clocks differ a little) are valid;
// nonces rotate every Step.
type Nonces struct {
	key  []byte
	step time.Duration
	now  func() time.Time
}

// nonceDomain separates these MACs from any other use of the secret.
const nonceDomain = "latchkey dpop nonce v1"

// NewNonces returns Nonces keyed by secret (at least 32 bytes, the same on
// every instance), rotating every step (DefaultNonceStep when <= 0), on the
// clock now (time.Now when nil).
func NewNonces(secret []byte, step time.Duration, now func() time.Time) (*Nonces, error) {
	if len(secret) < 32 {
		return nil, errors.New("dpop: nonce secret under 32 bytes")
	}
	if step <= 0 {
		step = DefaultNonceStep
	}
	if now == nil {
		now = time.Now
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(nonceDomain))
	return &Nonces{key: mac.Sum(nil), step: step, now: now}, nil
}

// Current returns the nonce a server hands out now (DPoP-Nonce header).
func (n *Nonces) Current() string { return n.at(n.stepOf(n.now())) }

// Valid reports whether nonce is the current nonce or the previous one, or
// the next one: an instance whose clock is a little ahead of this one's has
// already moved to the next step and hands out its nonce, which only an
// instance holding the secret can have made.
func (n *Nonces) Valid(nonce string) bool {
	if len(nonce) != nonceLen {
		return false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(nonce)
	if err != nil || len(raw) != 8+macLen {
		return false
	}
	s := binary.BigEndian.Uint64(raw)
	cur := n.stepOf(n.now())
	if s != cur && s+1 != cur && s != cur+1 {
		return false
	}
	return hmac.Equal(raw[8:], n.mac(s))
}

const (
	macLen   = 16
	nonceLen = (8 + macLen) * 4 / 3 // base64url of 24 bytes: 32 characters
)

func (n *Nonces) stepOf(t time.Time) uint64 { return uint64(t.UnixNano() / int64(n.step)) }

func (n *Nonces) at(s uint64) string {
	raw := make([]byte, 8, 8+macLen)
	binary.BigEndian.PutUint64(raw, s)
	raw = append(raw, n.mac(s)...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func (n *Nonces) mac(s uint64) []byte {
	m := hmac.New(sha256.New, n.key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], s)
	m.Write(b[:])
	return m.Sum(nil)[:macLen]
}
