package dpop

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// ProofOptions are the optional parts of a proof.
type ProofOptions struct {
	// AccessToken, when set, is the token sent with the proof: its hash
	// becomes the ath claim (RFC 9449 §4.2), required on resource requests.
	AccessToken string
	// Nonce is the server's latest DPoP-Nonce, when it asked for one.
	Nonce string
	// Now is iat (time.Now when zero).
	Now time.Time
	// JTI is the proof's unique id (128 random bits when empty).
	JTI string
}

// NewProof returns a DPoP proof JWT (RFC 9449 §4.2) for a request of method
// htm to URL htu, signed by signer: typ dpop+jwt, the public key as jwk, alg
// ES256 for an ECDSA P-256 key, EdDSA for Ed25519, PS256 for RSA. htu is
// sent as given, without its query and fragment.
func NewProof(signer crypto.Signer, htm, htu string, o ProofOptions) (string, error) {
	if signer == nil {
		return "", errors.New("dpop: no signer")
	}
	pub := signer.Public()
	alg, err := signingAlg(pub)
	if err != nil {
		return "", err
	}
	jwk, err := (&jose.JSONWebKey{Key: pub}).MarshalJSON()
	if err != nil {
		return "", fmt.Errorf("dpop: jwk: %w", err)
	}
	head, err := json.Marshal(struct {
		Typ string          `json:"typ"`
		Alg string          `json:"alg"`
		JWK json.RawMessage `json:"jwk"`
	}{typ, alg, jwk})
	if err != nil {
		return "", err
	}
	if o.JTI == "" {
		o.JTI = rand.Text()
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	c := claims{JTI: o.JTI, HTM: htm, HTU: stripQuery(htu), IAT: o.Now.Unix(), Nonce: o.Nonce}
	if o.AccessToken != "" {
		c.ATH = AccessTokenHash(o.AccessToken)
	}
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	b64 := base64.RawURLEncoding
	input := b64.EncodeToString(head) + "." + b64.EncodeToString(body)
	sig, err := sign(signer, alg, []byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + b64.EncodeToString(sig), nil
}

// typ is the JOSE header typ of a proof (RFC 9449 §4.2).
const typ = "dpop+jwt"

// claims are a proof's claims (RFC 9449 §4.2).
type claims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// sign returns the JWS signature of input (RFC 7518 §3): ECDSA as the
// 64-byte r||s, Ed25519 as it is, RSA-PSS with a salt the size of the hash.
func sign(signer crypto.Signer, alg string, input []byte) ([]byte, error) {
	switch alg {
	case EdDSA:
		return signer.Sign(rand.Reader, input, crypto.Hash(0))
	case ES256:
		sum := sha256.Sum256(input)
		der, err := signer.Sign(rand.Reader, sum[:], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("dpop: sign: %w", err)
		}
		var rs struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) > 0 {
			return nil, errors.New("dpop: sign: ECDSA signature is not ASN.1")
		}
		out := make([]byte, 64)
		rs.R.FillBytes(out[:32])
		rs.S.FillBytes(out[32:])
		return out, nil
	case PS256:
		sum := sha256.Sum256(input)
		return signer.Sign(rand.Reader, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	}
	return nil, fmt.Errorf("dpop: cannot sign with %s", alg)
}
