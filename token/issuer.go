package token

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-dev/latchkey/store"
)

// Options configure an Issuer.
type Options struct {
	Issuer   string // iss of every token, checked on verification
	Audience string // aud of access tokens, checked on verification
	// RefreshSecret signs refresh tokens (HS256); at least 32 bytes.
	RefreshSecret []byte
	// Leeway tolerated on access-token exp, iat and nbf (a few seconds).
	// Refresh tokens get none.
	Leeway time.Duration
	// PublishRetiredFor is how long a retired key stays published and
	// accepted: at least the access-token lifetime plus Leeway, so every token
	// it signed expires first.
	PublishRetiredFor time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Issuer mints and verifies tokens. It is safe for concurrent use; SetKeys
// swaps the key set atomically while requests are served.
type Issuer struct {
	iss, aud      string
	refreshSigner *jwsSigner // HS256 under the refresh secret, typ rt+jwt
	refreshHead   string     // base64url of the refresh-token header
	refreshMAC    *hmacPool  // HMAC-SHA256 under the refresh secret
	leeway        time.Duration
	publishFor    time.Duration
	now           func() time.Time
	keys          atomic.Pointer[keySet]
}

// keySet is an immutable snapshot of the signing keys.
type keySet struct {
	active    parsedKey
	signer    *jwsSigner           // the active key, with its header computed once
	setSigner *jwsSigner           // the active key under the SET header (set.go)
	verify    map[string]parsedKey // by kid: the active key and recently retired ones
	algs      []jose.SignatureAlgorithm
	jwks      []byte

	// Access-token verification (verifyAccessJWS): keys by kid, by the
	// exact header MintAccess writes for them, and the algorithms allowed.
	access   map[string]*accessKey
	heads    map[string]*accessKey
	algNames []string
}

// NewIssuer returns an Issuer with no access-token keys yet; call SetKeys
// before minting access tokens.
func NewIssuer(o Options) (*Issuer, error) {
	if len(o.RefreshSecret) < 32 {
		return nil, errors.New("token: the refresh-token secret must be at least 32 bytes")
	}
	if o.Issuer == "" {
		return nil, errors.New("token: an issuer is required")
	}
	rs, err := newJWSSigner(refreshHeader.Alg, refreshHeader.Kid, refreshHeader.Typ, o.RefreshSecret)
	if err != nil {
		return nil, fmt.Errorf("token: refresh signer: %w", err)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Issuer{
		iss: o.Issuer, aud: o.Audience,
		refreshSigner: rs, refreshHead: rs.head, refreshMAC: rs.mac,
		leeway: o.Leeway, publishFor: o.PublishRetiredFor, now: now,
	}, nil
}

// Issuer returns the iss value of tokens.
func (i *Issuer) Issuer() string { return i.iss }

// SetKeys installs the signing keys: the newest unretired key signs, and it
// plus every key retired less than PublishRetiredFor ago verify and are
// published in the JWKS. Keys of another algorithm than the active one are
// published until they age out, so JWT_ALGORITHM can change without logging
// anyone out.
func (i *Issuer) SetKeys(keys []store.SigningKey) error {
	now := i.now()
	ks := &keySet{verify: make(map[string]parsedKey, len(keys)),
		access: make(map[string]*accessKey, len(keys)), heads: make(map[string]*accessKey, len(keys))}
	found := false
	var activeCreated time.Time
	var jwks jose.JSONWebKeySet
	for _, k := range keys {
		if !Published(k, now, i.publishFor) {
			continue // every token it signed has expired
		}
		pk, err := parseKey(k)
		if err != nil {
			return err
		}
		if k.RetiredAt.IsZero() && (!found || k.CreatedAt.After(activeCreated)) {
			ks.active, found, activeCreated = pk, true, k.CreatedAt
		}
		ks.verify[pk.kid] = pk
		if !slices.Contains(ks.algs, pk.alg) {
			ks.algs = append(ks.algs, pk.alg)
			ks.algNames = append(ks.algNames, string(pk.alg))
		}
		ak := newAccessKey(pk) // one HMAC pool per HS256 key
		ks.access[pk.kid] = ak
		head, err := accessHead(pk)
		if err != nil {
			return err
		}
		ks.heads[head] = ak
		if pk.alg != jose.HS256 { // never publish a shared secret
			jwks.Keys = append(jwks.Keys, jose.JSONWebKey{Key: pk.public, KeyID: pk.kid, Algorithm: string(pk.alg), Use: "sig"})
		}
	}
	if !found {
		return errors.New("token: no active signing key")
	}
	// Every algorithm, HS256 included, names its key: {"alg","kid","typ"}.
	signer, err := newJWSSigner(string(ks.active.alg), ks.active.kid, typAccess, ks.active.private)
	if err != nil {
		return fmt.Errorf("token: signer for key %s: %w", ks.active.kid, err)
	}
	ks.signer = signer
	if ks.setSigner, err = newJWSSigner(string(ks.active.alg), ks.active.kid, typSET, ks.active.private); err != nil {
		return fmt.Errorf("token: SET signer for key %s: %w", ks.active.kid, err)
	}
	if jwks.Keys == nil {
		jwks.Keys = []jose.JSONWebKey{}
	}
	if ks.jwks, err = json.Marshal(jwks); err != nil {
		return fmt.Errorf("token: encode JWKS: %w", err)
	}
	i.keys.Store(ks)
	return nil
}

// JWKS returns the JSON Web Key Set (RFC 7517) of the published public keys.
func (i *Issuer) JWKS() []byte {
	ks := i.keys.Load()
	if ks == nil {
		return []byte(`{"keys":[]}`)
	}
	return ks.jwks
}

// ActiveKeyID returns the kid that signs new access tokens ("" before SetKeys).
func (i *Issuer) ActiveKeyID() string {
	if ks := i.keys.Load(); ks != nil {
		return ks.active.kid
	}
	return ""
}

// payload is the JSON form of both kinds of claims: one struct keeps encoding
// and decoding cheap on the refresh path.
type payload struct {
	Iss string   `json:"iss"`
	Sub string   `json:"sub"`
	Aud audience `json:"aud,omitempty"`
	Exp int64    `json:"exp"`
	Iat int64    `json:"iat"`
	Nbf int64    `json:"nbf,omitempty"`
	Jti string   `json:"jti"`
	Sid string   `json:"sid"`
	Gen int64    `json:"gen,omitempty"`
	Cid string   `json:"client_id,omitempty"`
	Use string   `json:"token_use"`
	Cnf *cnf     `json:"cnf,omitempty"`
}

// cnf is the confirmation claim (RFC 7800) of a token bound to a DPoP key:
// jkt, the key's RFC 7638 thumbprint (RFC 9449 §6.1).
type cnf struct {
	JKT string `json:"jkt"`
}

// cnfOf returns the cnf claim of a token bound to jkt, nil for a bearer one.
func cnfOf(jkt string) *cnf {
	if jkt == "" {
		return nil
	}
	return &cnf{JKT: jkt}
}

// jktOf returns the thumbprint of a decoded cnf claim ("" when none).
func jktOf(c *cnf) string {
	if c == nil {
		return ""
	}
	return c.JKT
}

// audience accepts the two JSON forms of "aud" (RFC 7519 §4.1.3).
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

// MintAccess signs an access token. Empty ID, IssuedAt, Issuer and Audience
// are filled in; ExpiresAt and Subject and SessionID are required.
func (i *Issuer) MintAccess(c AccessClaims) (string, AccessClaims, error) {
	ks := i.keys.Load()
	if ks == nil {
		return "", c, errors.New("token: no signing key installed")
	}
	if c.Subject == "" || c.SessionID == "" || c.ExpiresAt.IsZero() {
		return "", c, errors.New("token: access claims need sub, sid and exp")
	}
	if c.ID == "" {
		c.ID = randomID(16)
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = i.now()
	}
	if c.Issuer == "" {
		c.Issuer = i.iss
	}
	if c.Audience == nil && i.aud != "" {
		c.Audience = []string{i.aud}
	}
	p := payload{Iss: c.Issuer, Sub: c.Subject, Aud: c.Audience, Exp: c.ExpiresAt.Unix(), Iat: c.IssuedAt.Unix(),
		Jti: c.ID, Sid: c.SessionID, Gen: c.Generation, Cid: c.ClientID, Use: useAccess, Cnf: cnfOf(c.JKT)}
	body, err := marshalWithExtra(p, c.Extra)
	if err != nil {
		return "", c, err
	}
	tok, err := ks.signer.sign(body)
	return tok, c, err
}

// marshalWithExtra encodes p, merging the extra claims whose names neither
// are nor fold onto a registered name (claimnames.go): registered claims
// win, whatever the spelling of the application's.
func marshalWithExtra(p payload, extra map[string]any) ([]byte, error) {
	body, err := json.Marshal(p)
	if err != nil || len(extra) == 0 {
		return body, err
	}
	m := make(map[string]any, len(extra)+10)
	for k, v := range extra {
		if !dropFolded(k) {
			m[k] = v
		}
	}
	var reg map[string]any
	if err := json.Unmarshal(body, &reg); err != nil {
		return nil, err
	}
	for k, v := range reg {
		m[k] = v // registered claims win
	}
	return json.Marshal(m)
}

// MintRefresh signs a refresh token for c (SessionID, Subject, Generation and
// ExpiresAt are required).
func (i *Issuer) MintRefresh(c RefreshClaims) (string, RefreshClaims, error) {
	if c.Subject == "" || c.SessionID == "" || c.Generation < 1 || c.ExpiresAt.IsZero() {
		return "", c, errors.New("token: refresh claims need sub, sid, gen and exp")
	}
	if c.ID == "" {
		c.ID = randomID(16)
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = i.now()
	}
	if c.Issuer == "" {
		c.Issuer = i.iss
	}
	body, err := json.Marshal(payload{Iss: c.Issuer, Sub: c.Subject, Exp: c.ExpiresAt.Unix(), Iat: c.IssuedAt.Unix(),
		Jti: c.ID, Sid: c.SessionID, Gen: c.Generation, Cid: c.ClientID, Use: useRefresh, Cnf: cnfOf(c.JKT)})
	if err != nil {
		return "", c, err
	}
	tok, err := i.refreshSigner.sign(body)
	return tok, c, err
}

// VerifyAccess verifies an access token: algorithm and key, typ at+jwt,
// token_use access, iss, aud, exp/iat/nbf with the leeway, and member names
// that are registered claims exactly or not at all (claimnames.go). An
// expired token returns its claims with ErrExpired.
func (i *Issuer) VerifyAccess(tok string) (AccessClaims, error) {
	ks := i.keys.Load()
	if ks == nil {
		return AccessClaims{}, ErrSignature
	}
	p, extra, typ, err := verifyAccessJWS(tok, ks.heads, ks.algNames, func(kid string) (*accessKey, bool) {
		k, ok := ks.access[kid]
		return k, ok
	})
	if err != nil {
		if typ == typRefresh {
			return AccessClaims{}, ErrWrongKind
		}
		return AccessClaims{}, err
	}
	return checkAccess(p, extra, typ, i.iss, i.aud, i.leeway, i.now())
}

// checkAccess validates the claims of a verified access token: kind, iss,
// aud, required claims, and iat/nbf/exp against now with leeway.
func checkAccess(p *payload, extra map[string]any, typ, iss, aud string, leeway time.Duration, now time.Time) (AccessClaims, error) {
	if p.Use != useAccess || typ != typAccess {
		return AccessClaims{}, ErrWrongKind
	}
	c := AccessClaims{Issuer: p.Iss, Subject: p.Sub, Audience: p.Aud, IssuedAt: time.Unix(p.Iat, 0).UTC(),
		ExpiresAt: time.Unix(p.Exp, 0).UTC(), ID: p.Jti, SessionID: p.Sid, Generation: p.Gen, ClientID: p.Cid, JKT: jktOf(p.Cnf)}
	if len(extra) > 0 {
		c.Extra = extra
	}
	switch {
	case p.Iss != iss:
		return c, fmt.Errorf("%w: issuer", ErrClaims)
	case aud != "" && !slices.Contains(p.Aud, aud):
		return c, fmt.Errorf("%w: audience", ErrClaims)
	case p.Sub == "" || p.Sid == "" || p.Jti == "" || p.Exp == 0:
		return c, fmt.Errorf("%w: missing claims", ErrClaims)
	case time.Unix(p.Iat, 0).After(now.Add(leeway)):
		return c, fmt.Errorf("%w: issued in the future", ErrClaims)
	case p.Nbf != 0 && time.Unix(p.Nbf, 0).After(now.Add(leeway)):
		return c, fmt.Errorf("%w: not yet valid", ErrClaims)
	case !now.Before(time.Unix(p.Exp, 0).Add(leeway)):
		return c, ErrExpired
	}
	return c, nil
}

// VerifyRefresh verifies a refresh token: HS256 under the refresh secret only,
// typ rt+jwt, token_use refresh, iss, and exp exactly against the server's
// clock (no leeway). An expired token returns its claims with ErrExpired.
//
// iat is not checked. Only this server mints refresh tokens, so a good MAC
// already proves it issued the token; the session's stored generation says
// whether it is current. An iat "in the future" only means the clock of
// this instance is behind the one that minted it (a step back, skew between
// instances), and refusing it would sign users out for a clock fault.
//
// Refresh tokens are only ever minted and read by this server, so they are
// checked without go-jose (verifyRefreshJWS): one header, one algorithm, one
// key, and the claims are decoded only once the MAC is good.
func (i *Issuer) VerifyRefresh(tok string) (RefreshClaims, error) {
	p, typ, err := i.verifyRefreshJWS(tok)
	if err != nil {
		if typ == typAccess {
			return RefreshClaims{}, ErrWrongKind
		}
		return RefreshClaims{}, err
	}
	if p.Use != useRefresh || typ != typRefresh {
		return RefreshClaims{}, ErrWrongKind
	}
	c := RefreshClaims{Issuer: p.Iss, Subject: p.Sub, SessionID: p.Sid, Generation: p.Gen, ClientID: p.Cid,
		IssuedAt: time.Unix(p.Iat, 0).UTC(), ExpiresAt: time.Unix(p.Exp, 0).UTC(), ID: p.Jti, JKT: jktOf(p.Cnf)}
	now := i.now()
	switch {
	case p.Iss != i.iss:
		return c, fmt.Errorf("%w: issuer", ErrClaims)
	case p.Sub == "" || p.Sid == "" || p.Gen < 1 || p.Exp == 0:
		return c, fmt.Errorf("%w: missing claims", ErrClaims)
	case !now.Before(time.Unix(p.Exp, 0)):
		return c, ErrExpired
	}
	return c, nil
}

// peekType reads the unverified typ header of a token that failed to parse,
// only to tell the caller it presented the other kind of token.
func peekType(tok string) string {
	head, _, ok := strings.Cut(tok, ".")
	if !ok || len(head) > 1024 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Typ string `json:"typ"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return ""
	}
	return h.Typ
}
