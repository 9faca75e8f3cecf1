package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// This file verifies access tokens without go-jose, in the style of
// verifyRefreshJWS: a strict compact-JWS reader, the algorithm pinned to the
// key, and the claims decoded once, only after the signature verifies.
//
// Where it is stricter than go-jose (ParseSignedCompact + Verify), which it
// replaced; tokens we mint are unaffected by every point:
//   - base64url is decoded strictly (b64): no "\r"/"\n" inside a part (the
//     standard decoder skips them) and the unused low bits of the last
//     character must be zero, so a token has exactly one spelling;
//   - the header is a JSON object with exactly the members alg, kid (both
//     required) and typ (optional), each a JSON string (not null), each at
//     most once; crit, b64, jwk, x5c, any other member and data after the
//     object are refused (go-jose accepts unknown members and repeated ones,
//     the last winning);
//   - kid is required; go-jose let an Issuer key with an empty kid verify a
//     header without one (no key has an empty kid);
//   - an ES256 key must be an *ecdsa.PublicKey on P-256, an EdDSA key an
//     ed25519.PublicKey of 32 bytes, an RS256 key an *rsa.PublicKey (a
//     Verifier's Key may also return a jose.JSONWebKey holding one);
//     signature lengths are exact: 64 bytes for ES256 and EdDSA, the modulus
//     size for RS256, 32 bytes for HS256.
//
// Error kinds are as before: structure, encoding, header and a disallowed
// algorithm are ErrMalformed (with the header's typ peeked, so a refresh
// token is ErrWrongKind); an unknown kid, an algorithm other than the key's
// and a bad signature are ErrSignature; claims that are not JSON are
// ErrMalformed. One order changed: the payload's base64 is decoded after the
// signature is checked, so a token with both a bad payload encoding and a bad
// signature is ErrSignature where it was ErrMalformed.

// accessKey is a key that verifies access tokens and the one algorithm it
// may be used with (RFC 8725 §3.1).
type accessKey struct {
	alg string
	pub any       // *ecdsa.PublicKey (P-256), ed25519.PublicKey, *rsa.PublicKey; nil for HS256
	mac *hmacPool // HS256 only
}

// newAccessKey returns the verification form of a parsed signing key.
func newAccessKey(pk parsedKey) *accessKey {
	k := &accessKey{alg: string(pk.alg), pub: pk.public}
	if pk.alg == jose.HS256 {
		secret, _ := pk.public.([]byte)
		k.pub, k.mac = nil, newHMACPool(secret)
	}
	return k
}

// rsToDER appends the ASN.1 SEQUENCE of INTEGER r and INTEGER s (each a
// big-endian unsigned value of at most 32 bytes) to dst; false if either is
// zero.
func rsToDER(dst, r, s []byte) ([]byte, bool) {
	var ints [2][]byte
	for i, n := range [2][]byte{r, s} {
		for len(n) > 0 && n[0] == 0 {
			n = n[1:]
		}
		if len(n) == 0 || len(n) > 32 {
			return nil, false
		}
		ints[i] = n
	}
	size := func(n []byte) int { return 2 + len(n) + int(n[0]>>7) }
	dst = append(dst, 0x30, byte(size(ints[0])+size(ints[1])))
	for _, n := range ints {
		dst = append(dst, 0x02, byte(len(n)+int(n[0]>>7)))
		if n[0]&0x80 != 0 {
			dst = append(dst, 0) // positive: a sign octet before a high bit
		}
		dst = append(dst, n...)
	}
	return dst, true
}

// accessHeader is the protected header of an access token.
type accessHeader struct{ alg, kid, typ string }

// verifySignature checks sig over input for the key's algorithm. scratch
// has room for 32 bytes (the HS256 MAC).
func (k *accessKey) verifySignature(input, sig, scratch []byte) bool {
	switch k.alg {
	case ES256:
		pub, ok := k.pub.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() || len(sig) != 64 {
			return false
		}
		digest := sha256.Sum256(input)
		// R and S as two fixed-size big-endian halves (RFC 7518 §3.4),
		// re-encoded as the ASN.1 VerifyASN1 reads (what ecdsa.Verify
		// does, without its big.Int round trip). Zero is refused here, and
		// r or s not below the group order N by the FIPS code under
		// VerifyASN1 (bigmod SetBytes modulo N).
		var der [72]byte
		d, ok := rsToDER(der[:0], sig[:32], sig[32:])
		return ok && ecdsa.VerifyASN1(pub, digest[:], d)
	case EdDSA:
		pub, ok := k.pub.(ed25519.PublicKey)
		if !ok || len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
			return false
		}
		return ed25519.Verify(pub, input, sig)
	case RS256:
		pub, ok := k.pub.(*rsa.PublicKey)
		if !ok || pub.N == nil || len(sig) != pub.Size() {
			return false
		}
		digest := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil
	case HS256:
		if k.mac == nil || len(sig) != sha256.Size {
			return false
		}
		return hmac.Equal(sig, k.mac.sum(scratch[:0], input))
	}
	return false
}

// verifyAccessJWS checks the compact form, header, algorithm and signature of
// an access token and returns its payload, its extra claims (every member
// but the registered ones; nil when none) and its typ header. typ is returned
// whenever the header could be read, even with an error, so the caller can
// tell someone presented a refresh token.
//
// heads maps the exact base64url headers we mint to their keys (a fast path
// past header parsing; nil for none); allowed lists the algorithms the caller
// accepts; lookup finds the key of a kid.
func verifyAccessJWS(tok string, heads map[string]*accessKey, allowed []string, lookup func(kid string) (*accessKey, bool)) (*payload, map[string]any, string, error) {
	if tok == "" || len(tok) > MaxTokenBytes {
		return nil, nil, "", ErrMalformed
	}
	dot1, dot2, ok := splitCompact(tok)
	if !ok {
		return nil, nil, peekType(tok), errNotCompact
	}
	h64, p64, s64 := tok[:dot1], tok[dot1+1:dot2], tok[dot2+1:]

	var h accessHeader
	key, fast := heads[h64] // every token we mint takes the fast path
	if fast {
		h = accessHeader{alg: key.alg, typ: typAccess}
	} else {
		var err error
		if h, err = parseAccessHeader(h64); err != nil {
			return nil, nil, peekType(tok), err
		}
	}
	typ := h.typ
	if !slices.Contains(allowed, h.alg) {
		return nil, nil, typ, fmt.Errorf("%w: algorithm %q is not allowed", ErrMalformed, h.alg)
	}

	// One buffer: a copy of the token (the signing input is its bytes as
	// received), the signature presented, the MAC we compute (HS256) and
	// the decoded payload.
	l := len(tok)
	sigMax := b64.DecodedLen(len(s64))
	buf := make([]byte, l, l+sigMax+sha256.Size+b64.DecodedLen(len(p64)))
	copy(buf, tok)
	sig := buf[l : l+sigMax]
	n, err := b64.Decode(sig, buf[dot2+1:l])
	if err != nil {
		return nil, nil, typ, fmt.Errorf("%w: signature encoding", ErrMalformed)
	}
	sig = sig[:n]

	if !fast {
		ok := false
		if h.kid != "" {
			key, ok = lookup(h.kid)
		}
		if !ok || key == nil {
			return nil, nil, typ, ErrUnknownKey
		}
		// The header names the key's own algorithm or nothing is computed:
		// a public key is never used as an HMAC secret.
		if h.alg != key.alg {
			return nil, nil, typ, fmt.Errorf("%w: algorithm does not match the key", ErrSignature)
		}
	}
	rest := buf[l+sigMax : cap(buf)]
	if !key.verifySignature(buf[:dot2], sig, rest[:0:sha256.Size]) {
		return nil, nil, typ, ErrSignature
	}

	// Authentic: now the payload may be decoded, once.
	body := rest[sha256.Size:]
	m, err := b64.Decode(body, buf[dot1+1:dot2])
	if err != nil {
		return nil, nil, typ, fmt.Errorf("%w: payload encoding", ErrMalformed)
	}
	body = body[:m]
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, nil, typ, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	hasExtra, err := checkClaimNames(body)
	if err != nil {
		return nil, nil, typ, err
	}
	var extra map[string]any
	if p.Use == useAccess && hasExtra {
		// Application claims for the principal: decoded only when the
		// payload has a member beyond the registered ones.
		_ = json.Unmarshal(body, &extra)
		for k := range registeredClaims {
			delete(extra, k)
		}
	}
	return &p, extra, typ, nil
}

// parseAccessHeader reads a protected header other than the ones we write
// (readHeader): alg (required), kid and typ, each a JSON string.
func parseAccessHeader(h64 string) (accessHeader, error) {
	r, err := readHeader(h64)
	if err != nil {
		return accessHeader{}, err
	}
	var h accessHeader
	for _, m := range [...]struct {
		name string
		raw  json.RawMessage
		dst  *string
	}{{"alg", r.alg, &h.alg}, {"kid", r.kid, &h.kid}, {"typ", r.typ, &h.typ}} {
		if m.raw != nil && (m.raw[0] != '"' || json.Unmarshal(m.raw, m.dst) != nil) {
			return accessHeader{}, headerError(m.name)
		}
	}
	if r.alg == nil {
		return accessHeader{}, headerError("no alg")
	}
	return h, nil
}

// accessHead is the base64url header MintAccess writes for a key.
func accessHead(pk parsedKey) (string, error) {
	return encodeHeader(jwsHeader{Alg: string(pk.alg), Kid: pk.kid, Typ: typAccess})
}

// publicAccessKey is the verification form of a key a Verifier looked up.
func publicAccessKey(k PublicKey) *accessKey {
	pub := k.Key
	switch w := pub.(type) {
	case jose.JSONWebKey:
		pub = w.Key
	case *jose.JSONWebKey:
		if w != nil {
			pub = w.Key
		}
	}
	return &accessKey{alg: k.Algorithm, pub: pub}
}
