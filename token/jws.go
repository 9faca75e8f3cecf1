package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// This file builds compact JWS (RFC 7515 §7.1) with the standard library:
//
//	base64url(protected header) "." base64url(payload) "." base64url(signature)
//
// Minting both kinds of token and verifying refresh tokens go through here;
// access tokens, which come in several algorithms and keys, are verified by
// the reader of access.go.

// b64 is the only base64 the JWS code decodes with: URL alphabet, no padding,
// and strict, so the unused low bits of the last character must be zero and
// every token has exactly one encoding (the signature of a refresh token
// cannot be re-spelled into a second valid string).
var b64 = base64.RawURLEncoding.Strict()

// jwsHeader is the protected header we emit. Its members are in the order
// go-jose wrote them (sorted), so tokens look the same as before.
type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
	Typ string `json:"typ"`
}

// encodeHeader returns base64url(JSON(h)), computed once per key.
func encodeHeader(h jwsHeader) (string, error) {
	raw, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("token: encode JWS header: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// hmacPool hands out HMAC-SHA256 states keyed once, so signing and verifying
// with a fixed secret neither rebuilds the key pads nor allocates.
type hmacPool struct{ p sync.Pool }

func newHMACPool(key []byte) *hmacPool {
	key = bytes.Clone(key)
	return &hmacPool{p: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

// sum appends HMAC-SHA256(input) to dst.
func (hp *hmacPool) sum(dst, input []byte) []byte {
	m := hp.p.Get().(hash.Hash)
	m.Reset()
	m.Write(input)
	dst = m.Sum(dst)
	hp.p.Put(m)
	return dst
}

// jwsSigner signs compact JWS with one key under one fixed protected header.
type jwsSigner struct {
	head   string // base64url of the protected header
	sigLen int    // length of the raw signature
	key    any    // *ecdsa.PrivateKey (P-256), ed25519.PrivateKey, *rsa.PrivateKey, or nil for HS256
	mac    *hmacPool
}

// newJWSSigner returns a signer for alg with the private key of parseKey
// (crypto.Signer, or []byte for HS256). kid is put in the header when set.
func newJWSSigner(alg, kid, typ string, private any) (*jwsSigner, error) {
	s := &jwsSigner{}
	switch k := private.(type) {
	case *ecdsa.PrivateKey:
		if alg != ES256 || k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("token: cannot sign %s with an ECDSA key on %s", alg, k.Curve.Params().Name)
		}
		s.key, s.sigLen = k, 64
	case ed25519.PrivateKey:
		if alg != EdDSA || len(k) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("token: bad Ed25519 key for %s", alg)
		}
		s.key, s.sigLen = k, ed25519.SignatureSize
	case *rsa.PrivateKey:
		if alg != RS256 {
			return nil, fmt.Errorf("token: RSA key for %s", alg)
		}
		s.key, s.sigLen = k, k.Size()
	case []byte:
		if alg != HS256 || len(k) < 32 {
			return nil, fmt.Errorf("token: bad HMAC key for %s", alg)
		}
		s.mac, s.sigLen = newHMACPool(k), sha256.Size
	default:
		return nil, fmt.Errorf("token: cannot sign %s with a %T", alg, private)
	}
	var err error
	s.head, err = encodeHeader(jwsHeader{Alg: alg, Kid: kid, Typ: typ})
	return s, err
}

// sign returns the compact JWS of payload. The token is assembled in one
// buffer, which also holds the raw signature past the token's end.
func (s *jwsSigner) sign(payload []byte) (string, error) {
	n := len(s.head) + 1 + base64.RawURLEncoding.EncodedLen(len(payload))
	size := n + 1 + base64.RawURLEncoding.EncodedLen(s.sigLen)
	buf := make([]byte, 0, size+s.sigLen)
	buf = append(buf, s.head...)
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, payload)
	sig, err := s.signature(buf[:n], buf[size:size:size+s.sigLen])
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	if len(sig) != s.sigLen {
		return "", fmt.Errorf("token: sign: signature of %d bytes, want %d", len(sig), s.sigLen)
	}
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, sig)
	return string(buf), nil
}

// signature signs the JWS signing input (RFC 7518 §3), writing into scratch
// (capacity sigLen) when the algorithm allows.
func (s *jwsSigner) signature(input, scratch []byte) ([]byte, error) {
	if s.mac != nil {
		return s.mac.sum(scratch, input), nil
	}
	switch k := s.key.(type) {
	case *ecdsa.PrivateKey:
		// Deterministic ECDSA (RFC 6979, the standard library's
		// implementation, chosen by a nil random source): its nonce comes
		// from an HMAC-SHA-256 DRBG over the key and digest, where the
		// default hedged signature runs an HMAC-SHA-512 DRBG over fresh
		// randomness too, about a fifth more CPU per access token here
		// (docs/performance.md). Determinism costs nothing: every token
		// carries a random jti and its own iat, so no two signed inputs are
		// alike, and a repeated nonce would need a repeated input.
		digest := sha256.Sum256(input)
		der, err := k.Sign(nil, digest[:], crypto.SHA256)
		if err != nil {
			return nil, err
		}
		// R and S as fixed-size big-endian octets (RFC 7518 §3.4), not ASN.1.
		return derToRS(der, scratch[:64])
	case ed25519.PrivateKey:
		return ed25519.Sign(k, input), nil
	case *rsa.PrivateKey:
		digest := sha256.Sum256(input)
		return rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:])
	}
	return nil, errors.New("no signing key")
}

// derToRS writes the ASN.1 ECDSA signature der (SEQUENCE of INTEGER r and s)
// into sig as r and s, each left-padded to half of sig.
func derToRS(der, sig []byte) ([]byte, error) {
	var (
		seq, r, s cryptobyte.String
		in        = cryptobyte.String(der)
	)
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&r, asn1.INTEGER) || !seq.ReadASN1(&s, asn1.INTEGER) || !seq.Empty() {
		return nil, errors.New("malformed ECDSA signature")
	}
	half := len(sig) / 2
	clear(sig)
	for i, n := range [][]byte{r, s} {
		for len(n) > 0 && n[0] == 0 {
			n = n[1:] // DER's sign octet
		}
		if len(n) > half {
			return nil, errors.New("ECDSA signature integer too long")
		}
		copy(sig[(i+1)*half-len(n):(i+1)*half], n)
	}
	return sig, nil
}

// refreshHeader is the protected header of every refresh token, and the only
// one MintRefresh writes.
var refreshHeader = jwsHeader{Alg: HS256, Typ: typRefresh}

// verifyRefreshJWS checks the compact form and HS256 MAC of a refresh token
// and returns its payload and typ header. typ is returned whenever the header
// could be read, even with an error, so the caller can tell someone presented
// an access token.
func (i *Issuer) verifyRefreshJWS(tok string) (payload, string, error) {
	var p payload
	if tok == "" || len(tok) > MaxTokenBytes {
		return p, "", ErrMalformed
	}
	dot1, dot2, ok := splitCompact(tok)
	if !ok {
		return p, peekType(tok), errNotCompact
	}
	h64, p64, s64 := tok[:dot1], tok[dot1+1:dot2], tok[dot2+1:]

	typ := typRefresh
	if h64 != i.refreshHead { // every token we mint takes the fast path
		var err error
		if typ, err = checkRefreshHeader(h64); err != nil {
			return p, typ, err
		}
	}
	if len(s64) != base64.RawURLEncoding.EncodedLen(sha256.Size) {
		return p, typ, ErrSignature
	}

	// One buffer: a copy of the token (the signing input is its bytes as
	// received), then the MAC we compute, the signature presented, and the
	// decoded payload.
	l := len(tok)
	buf := make([]byte, l, l+2*sha256.Size+b64.DecodedLen(len(p64)))
	copy(buf, tok)
	want := i.refreshMAC.sum(buf[l:l:l+sha256.Size], buf[:dot2])
	got := buf[l+sha256.Size : l+2*sha256.Size]
	if m, err := b64.Decode(got, buf[dot2+1:l]); err != nil || m != sha256.Size {
		return p, typ, fmt.Errorf("%w: signature encoding", ErrMalformed)
	}
	if !hmac.Equal(got, want) {
		return p, typ, ErrSignature
	}

	// Authentic: now the payload may be decoded.
	body := buf[l+2*sha256.Size : cap(buf)]
	m, err := b64.Decode(body, buf[dot1+1:dot2])
	if err != nil {
		return p, typ, fmt.Errorf("%w: payload encoding", ErrMalformed)
	}
	if err := json.Unmarshal(body[:m], &p); err != nil {
		return p, typ, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	if _, err := checkClaimNames(body[:m]); err != nil {
		return payload{}, typ, err
	}
	return p, typ, nil
}

// errNotCompact is the error of a token that is not three base64url parts.
var errNotCompact = fmt.Errorf("%w: not a compact JWS", ErrMalformed)

// splitCompact returns the positions of the two dots of a compact JWS whose
// three parts hold only base64url characters: padding, whitespace (which
// encoding/base64 would skip) and a fourth part are refused.
func splitCompact(tok string) (dot1, dot2 int, ok bool) {
	dot1, dot2 = -1, -1
	for j := 0; j < len(tok); j++ {
		c := tok[j]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.' && dot1 < 0:
			dot1 = j
		case c == '.' && dot2 < 0:
			dot2 = j
		default:
			return 0, 0, false
		}
	}
	return dot1, dot2, dot2 >= 0
}

// rawHeader holds the members of a protected header as read, nil when
// absent.
type rawHeader struct{ alg, kid, typ json.RawMessage }

// headerError is a header we refuse, as malformed.
func headerError(why string) error { return fmt.Errorf("%w: header: %s", ErrMalformed, why) }

// readHeader reads a protected header other than the ones we write, for both
// kinds of token: a JSON object whose members are among alg, kid and typ,
// each at most once, names matched exactly (encoding/json would fold case on
// a struct). crit, b64, any other member and anything after the object are
// refused. The values come back raw: each kind decides what it accepts.
func readHeader(h64 string) (rawHeader, error) {
	var h rawHeader
	raw, err := b64.DecodeString(h64)
	if err != nil {
		return h, fmt.Errorf("%w: header encoding", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return h, headerError("not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return h, headerError("not a JSON object")
		}
		name, _ := t.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return h, headerError("not a JSON object")
		}
		var dst *json.RawMessage
		switch name {
		case "alg":
			dst = &h.alg
		case "kid":
			dst = &h.kid
		case "typ":
			dst = &h.typ
		case "crit", "b64":
			return h, headerError(name + " is not supported")
		default:
			return h, headerError(fmt.Sprintf("member %q", name))
		}
		if *dst != nil {
			return h, headerError(name)
		}
		*dst = val
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return h, headerError("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return h, headerError("data after the object")
	}
	return h, nil
}

// checkRefreshHeader reads a protected header other than the one we write
// (readHeader): alg must be "HS256"; a kid is refused as an unknown key, as
// before with go-jose. typ is returned when the object was read whole, even
// with an error.
func checkRefreshHeader(h64 string) (typ string, err error) {
	h, err := readHeader(h64)
	if err != nil {
		return "", err
	}
	var alg string
	if h.alg != nil && json.Unmarshal(h.alg, &alg) != nil {
		return "", headerError("alg")
	}
	if h.typ != nil && json.Unmarshal(h.typ, &typ) != nil {
		return "", headerError("typ")
	}
	switch {
	case alg != HS256:
		return typ, fmt.Errorf("%w: algorithm %q is not allowed", ErrMalformed, alg)
	case h.kid != nil:
		return typ, fmt.Errorf("%w: unknown key id", ErrSignature)
	}
	return typ, nil
}
