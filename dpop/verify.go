package dpop

import (
	"bytes"
	"context"
	"crypto"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Defaults of a Verifier's zero fields.
const (
	DefaultLifetime = 60 * time.Second
	DefaultLeeway   = 5 * time.Second
	// MaxProofSize bounds the proof a Verifier reads (an RSA-4096 jwk and
	// signature fit with room to spare).
	MaxProofSize = 8 << 10
	// maxJTI bounds the jti, which a replay cache keeps.
	maxJTI = 256
)

// Verifier checks proofs as RFC 9449 §4.3 says. Its zero value is usable
// (no replay cache, no nonces); fields must not change once it is in use.
type Verifier struct {
	// Lifetime is how long after its iat a proof is accepted (default 60s).
	Lifetime time.Duration
	// Leeway is the clock skew tolerated on iat, both ways (default 5s).
	Leeway time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Algs are the accepted algorithms, a subset of DefaultAlgs (all of them
	// when empty).
	Algs []string
	// Replay, when set, makes Verify refuse a jti the same key used before
	// (RFC 9449 §11.1). Check never consults it.
	Replay ReplayCache
	// Nonces, when set, makes every proof carry a current server nonce
	// (RFC 9449 §8); a proof without one is ErrUseNonce.
	Nonces *Nonces
}

// Proof is what a checked proof says.
type Proof struct {
	// JKT is the RFC 7638 thumbprint of the proof's key.
	JKT string
	// JTI is the proof's unique id; IssuedAt its iat.
	JTI      string
	IssuedAt time.Time
	// Until is when the proof stops being accepted: a replay cache must keep
	// its jti until then.
	Until time.Time
	// Alg is the algorithm it was signed with; Key its public key.
	Alg string
	Key crypto.PublicKey
}

// Verify checks proof, the value of a request's single DPoP header, for a
// request of method to url (as HTU builds it) carrying accessToken ("" when
// none), then marks its jti used in Replay when set. Any failure is an
// *Error; ErrUseNonce when only the nonce is missing or stale. A failure of
// Replay itself (not a replay) is returned as it is.
func (v *Verifier) Verify(ctx context.Context, proof, method, url, accessToken string) (*Proof, error) {
	p, err := v.Check(proof, method, url, accessToken)
	if err != nil {
		return nil, err
	}
	if v.Replay != nil {
		if err := v.Replay.Use(ctx, p.JKT, p.JTI, p.Until); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Check is Verify without the replay cache: every other check of RFC 9449
// §4.3. The caller must then mark p.JTI used by p.JKT until p.Until itself
// (a server can do it in the same transaction as the work the proof allows).
func (v *Verifier) Check(proof, method, url, accessToken string) (*Proof, error) {
	if proof == "" {
		return nil, fail(ReasonMissing, "")
	}
	if len(proof) > MaxProofSize {
		return nil, fail(ReasonMalformed, "too large")
	}
	for i := 0; i < len(proof); i++ {
		if c := proof[i]; !(isUnreserved(c) && c != '~') {
			return nil, fail(ReasonMalformed, "not base64url")
		}
	}
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return nil, fail(ReasonMalformed, "not a compact JWS")
	}
	h, err := v.header(parts[0])
	if err != nil {
		return nil, err
	}
	// The signature is checked here rather than by go-jose's JWS parser,
	// which would decode the header (and its jwk) a second time: the header
	// is read once, strictly (above), go-jose parses the jwk, and the
	// algorithm is pinned to the key's type (keyAllows).
	sig, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if err != nil {
		return nil, fail(ReasonMalformed, "signature encoding")
	}
	if !verifySignature(h.alg, h.key, []byte(proof[:len(parts[0])+1+len(parts[1])]), sig) {
		return nil, fail(ReasonSignature, "")
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
	if err != nil {
		return nil, fail(ReasonMalformed, "claims encoding")
	}
	c, err := decodeClaims(payload)
	if err != nil {
		return nil, err
	}
	if c.HTM != method {
		return nil, fail(ReasonHTM, "")
	}
	want, err := NormalizeHTU(url)
	if err != nil {
		return nil, fmt.Errorf("dpop: request URL %q: %v", url, err)
	}
	// The htu names the URL without query and fragment (RFC 9449 §4.2): a
	// claim carrying either is not this request's.
	if strings.ContainsAny(c.HTU, "?#") {
		return nil, fail(ReasonHTU, "query or fragment")
	}
	if got, err := NormalizeHTU(c.HTU); err != nil || got != want {
		return nil, fail(ReasonHTU, "")
	}
	now := v.now()
	iat := time.Unix(c.IAT, 0)
	if iat.After(now.Add(v.leeway())) {
		return nil, fail(ReasonIAT, "in the future")
	}
	until := iat.Add(v.lifetime()).Add(v.leeway())
	if now.After(until) {
		return nil, fail(ReasonIAT, "expired")
	}
	if accessToken != "" {
		if c.ATH == "" {
			return nil, fail(ReasonATH, "missing")
		}
		if subtle.ConstantTimeCompare([]byte(c.ATH), []byte(AccessTokenHash(accessToken))) != 1 {
			return nil, fail(ReasonATH, "")
		}
	}
	if v.Nonces != nil && !v.Nonces.Valid(c.Nonce) {
		return nil, fail(ReasonUseNonce, "")
	}
	return &Proof{JKT: h.jkt, JTI: c.JTI, IssuedAt: iat, Until: until, Alg: h.alg, Key: h.key}, nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) lifetime() time.Duration {
	if v.Lifetime > 0 {
		return v.Lifetime
	}
	return DefaultLifetime
}

func (v *Verifier) leeway() time.Duration {
	if v.Leeway > 0 {
		return v.Leeway
	}
	return DefaultLeeway
}

// AllowedAlgs returns the algorithms v accepts, for a WWW-Authenticate algs
// parameter and dpop_signing_alg_values_supported (a new slice).
func (v *Verifier) AllowedAlgs() []string {
	var out []string
	for _, a := range defaultAlgs {
		if len(v.Algs) == 0 || slices.Contains(v.Algs, a) {
			out = append(out, a)
		}
	}
	return out
}

// allows reports whether alg is among AllowedAlgs, without building the
// slice: every proof's check asks.
func (v *Verifier) allows(alg string) bool {
	return slices.Contains(defaultAlgs[:], alg) && (len(v.Algs) == 0 || slices.Contains(v.Algs, alg))
}

// header is a proof's JOSE header, checked, and its key's thumbprint.
type header struct {
	alg string
	key crypto.PublicKey
	jkt string
}

// privateMembers are the JWK members of private and symmetric keys
// (RFC 7518 §6.2.2, §6.3.2, §6.4); a proof's jwk carrying any is refused
// (RFC 9449 §4.3 point 7).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

func (v *Verifier) header(h64 string) (header, error) {
	if h, ok := headers.get(h64); ok {
		if !v.allows(h.alg) {
			return header{}, fail(ReasonAlg, "")
		}
		return h, nil
	}
	h, err := v.parseHeader(h64)
	if err == nil {
		headers.put(h64, h)
	}
	return h, err
}

// headerCache remembers the headers that parsed (the key, its thumbprint
// and the algorithm of each), by their encoded form: every proof of one
// client carries the same header, and parsing its jwk, checking the point
// is on the curve and hashing the thumbprint cost about a fifth of a
// proof's check. Bounded: at most headerCacheSize headers of at most
// maxCachedHeader bytes (a hostile stream of new headers costs a parse
// each, as without the cache, and at most about 2 MiB); when full it
// starts again empty.
type headerCache struct {
	mu sync.RWMutex
	m  map[string]header
}

const (
	headerCacheSize = 4096
	maxCachedHeader = 512 // an ES256 or Ed25519 header is 150-250 bytes; RSA ones are not cached
)

var headers = &headerCache{m: make(map[string]header)}

func (c *headerCache) get(h64 string) (header, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	h, ok := c.m[h64]
	return h, ok
}

func (c *headerCache) put(h64 string, h header) {
	if len(h64) > maxCachedHeader {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= headerCacheSize {
		clear(c.m)
	}
	// A copy: h64 is a slice of the proof, which the map would keep alive.
	c.m[strings.Clone(h64)] = h
}

// parseHeader reads and checks a proof's protected header (header).
func (v *Verifier) parseHeader(h64 string) (header, error) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(h64)
	if err != nil {
		return header{}, fail(ReasonMalformed, "header encoding")
	}
	m, err := object(raw)
	if err != nil {
		return header{}, fail(ReasonMalformed, "header: "+err.Error())
	}
	var t, alg string
	if json.Unmarshal(m["typ"], &t) != nil || t != typ {
		return header{}, fail(ReasonTyp, "")
	}
	if json.Unmarshal(m["alg"], &alg) != nil || !v.allows(alg) {
		return header{}, fail(ReasonAlg, "")
	}
	if _, ok := m["crit"]; ok {
		return header{}, fail(ReasonMalformed, "crit") // RFC 7515 §4.1.11: none understood
	}
	rawJWK, ok := m["jwk"]
	if !ok {
		return header{}, fail(ReasonJWK, "missing")
	}
	members, err := object(rawJWK)
	if err != nil {
		return header{}, fail(ReasonJWK, "not an object")
	}
	for _, name := range privateMembers {
		if _, ok := members[name]; ok {
			return header{}, fail(ReasonJWK, "private key member "+name)
		}
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(rawJWK); err != nil || !jwk.Valid() || !jwk.IsPublic() {
		return header{}, fail(ReasonJWK, "not a public key")
	}
	if err := checkPublic(jwk.Key); err != nil {
		return header{}, fail(ReasonJWK, "key type")
	}
	if !keyAllows(jwk.Key, alg) {
		return header{}, fail(ReasonAlg, "not the key's")
	}
	jkt, err := Thumbprint(jwk.Key)
	if err != nil {
		return header{}, fail(ReasonJWK, "")
	}
	return header{alg: alg, key: jwk.Key, jkt: jkt}, nil
}

// decodeClaims reads a proof's claims: jti, htm, htu strings and a numeric
// iat are required (RFC 9449 §4.2).
func decodeClaims(payload []byte) (claims, error) {
	m, err := object(payload)
	if err != nil {
		return claims{}, fail(ReasonMalformed, "claims: "+err.Error())
	}
	var c claims
	str := func(name string, dst *string) bool {
		raw, ok := m[name]
		return ok && json.Unmarshal(raw, dst) == nil
	}
	if !str("jti", &c.JTI) || c.JTI == "" || len(c.JTI) > maxJTI {
		return claims{}, fail(ReasonJTI, "")
	}
	if !str("htm", &c.HTM) {
		return claims{}, fail(ReasonHTM, "missing")
	}
	if !str("htu", &c.HTU) {
		return claims{}, fail(ReasonHTU, "missing")
	}
	var iat json.Number
	raw, ok := m["iat"]
	if !ok || len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &iat) != nil {
		return claims{}, fail(ReasonIAT, "missing")
	}
	f, err := iat.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 1<<40 {
		return claims{}, fail(ReasonIAT, "not a date")
	}
	c.IAT = int64(f)
	if _, ok := m["ath"]; ok && !str("ath", &c.ATH) {
		return claims{}, fail(ReasonATH, "not a string")
	}
	if _, ok := m["nonce"]; ok && !str("nonce", &c.Nonce) {
		// Malformed, not use_dpop_nonce: that answer asks the client to
		// retry with the DPoP-Nonce it carries, which a server without
		// nonces never sends.
		return claims{}, fail(ReasonMalformed, "nonce not a string")
	}
	return c, nil
}

// object decodes a JSON object's members, refusing a repeated member (which
// parsers resolve differently) and anything after the object.
func object(b []byte) (map[string]json.RawMessage, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	m := make(map[string]json.RawMessage, 8)
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("not a JSON object")
		}
		name, _ := tok.(string)
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("member %q repeated", name)
		}
		var val json.RawMessage
		if err := d.Decode(&val); err != nil {
			return nil, fmt.Errorf("not a JSON object")
		}
		m[name] = val
	}
	if tok, err := d.Token(); err != nil || tok != json.Delim('}') {
		return nil, fmt.Errorf("not a JSON object")
	}
	if _, err := d.Token(); err == nil {
		return nil, fmt.Errorf("data after the object")
	}
	return m, nil
}
