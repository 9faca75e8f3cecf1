package mail

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
)

// Sealer encrypts queued messages. A queued message carries a reset or
// verification link, and so a token whose hash alone is stored: in the
// clear, the queue would give a reader of the database (a backup, a
// replica) the tokens the tokens table withholds. Messages are sealed with
// AES-256-GCM under a key derived (HKDF-SHA256, RFC 5869) from a server
// secret that is not in the database in production (REFRESH_TOKEN_SECRET),
// and bound to their queue id (the additional data), so a sealed payload
// moved to another row does not open.
type Sealer struct{ aead cipher.AEAD }

// sealInfo separates this key from every other use of the secret.
const sealInfo = "latchkey mail queue v1"

// NewSealer derives the sealing key from secret (at least 32 bytes).
func NewSealer(secret []byte) (*Sealer, error) {
	if len(secret) < 32 {
		return nil, errors.New("mail: the sealing secret must be at least 32 bytes")
	}
	key, err := hkdf.Key(sha256.New, secret, nil, sealInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// ErrUnsealable is the error of a payload that does not open: sealed under
// another secret (REFRESH_TOKEN_SECRET changed while it was queued), or
// damaged. Such a message can never be sent.
var ErrUnsealable = errors.New("mail: the queued message does not open (sealed under another secret, or damaged)")

// seal encrypts m for the queue row id.
func (s *Sealer) seal(id string, m Message) ([]byte, error) {
	plain, err := json.Marshal(sealed{From: m.From.String(), To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML, Link: m.Link})
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(id)), nil
}

// open decrypts the payload of the queue row id.
func (s *Sealer) open(id string, payload []byte) (Message, error) {
	n := s.aead.NonceSize()
	if len(payload) < n {
		return Message{}, ErrUnsealable
	}
	plain, err := s.aead.Open(nil, payload[:n], payload[n:], []byte(id))
	if err != nil {
		return Message{}, ErrUnsealable
	}
	var v sealed
	if err := json.Unmarshal(plain, &v); err != nil {
		return Message{}, ErrUnsealable
	}
	from, err := ParseFrom(v.From)
	if err != nil {
		return Message{}, ErrUnsealable
	}
	return Message{From: from, To: v.To, Subject: v.Subject, Text: v.Text, HTML: v.HTML, Link: v.Link}, nil
}

// sealed is a message as the queue keeps it, before encryption.
type sealed struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
	Link    string `json:"link"`
}
