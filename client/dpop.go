package client

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/latchkey-dev/latchkey/dpop"
)

// DPoP (RFC 9449): with WithDPoP the client proves, on every request that
// carries or mints its tokens, that it holds a private key. A session
// signed in so is bound to that key: its tokens are worthless without it,
// so a stolen refresh or access token cannot be used elsewhere.

// WithDPoP binds the client's sessions to key (RFC 9449): SignIn sends a
// proof signed by it, so the server binds the new session to the key and
// answers with token type "DPoP"; every refresh then sends a new proof (a
// fresh jti for every attempt, retries included), and Transport sends the
// access token as "Authorization: DPoP" with a proof of the request (method,
// URL, the token's hash). ECDSA P-256 (ES256), Ed25519 (EdDSA) and RSA of
// 2048 to 4096 bits with exponent 65537 (PS256) keys sign; the key may live in a hardware
// module, as any crypto.Signer.
//
// A nil key makes New generate an ECDSA P-256 key, which lives as long as
// the Client: an application that persists its tokens (OnTokens) must
// persist the key too (DPoPKey) and pass it back with WithDPoP alongside
// WithTokens, or the persisted session cannot be continued.
//
// A server with DPoP off answers token type "Bearer": the session is then
// an ordinary bearer session, and the client uses it as such.
func WithDPoP(key crypto.Signer) Option {
	return func(c *Client) {
		c.dpopOn = true
		c.key = key
	}
}

// DPoPKey returns the key the client signs DPoP proofs with, nil without
// WithDPoP.
func (c *Client) DPoPKey() crypto.Signer { return c.key }

// setUpDPoP completes the DPoP set-up in New.
func (c *Client) setUpDPoP() error {
	if c.dpopOn && c.key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("latchkey: generating a DPoP key: %w", err)
		}
		c.key = k
	}
	if c.key != nil && !proofKey(c.key.Public()) {
		return fmt.Errorf("latchkey: a DPoP key must be ECDSA P-256, Ed25519 or RSA of 2048 to 4096 bits (exponent 65537), not %T", c.key.Public())
	}
	if c.st.gen != 0 && isDPoP(c.st.tok.TokenType) && c.key == nil {
		return errors.New("latchkey: the tokens are bound to a DPoP key: pass the key with WithDPoP")
	}
	c.nonces = map[string]string{}
	return nil
}

// proofKey reports whether pub is a key of an algorithm proofs are signed
// with: ES256, EdDSA or PS256 (RFC 9449 §4.2 asks for an asymmetric
// algorithm; the dpop package signs these). The key is not asked to sign
// here: one in a hardware module may want its user's touch.
func proofKey(pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return true
	case *rsa.PublicKey:
		return k.N.BitLen() >= 2048 && k.N.BitLen() <= 4096 && k.E == 65537 // what servers accept (dpop)
	}
	return false
}

// isDPoP reports whether a token type is DPoP's (RFC 9449 §5; compared
// case-insensitively as RFC 6749 §7.1 says).
func isDPoP(tokenType string) bool { return strings.EqualFold(tokenType, "DPoP") }

// proof returns a new proof signed by the client's key for a request of
// method to u, with ath when accessToken is set and the latest nonce u's
// origin sent.
func (c *Client) proof(method string, u *url.URL, accessToken string) (string, error) {
	return dpop.NewProof(c.key, method, u.String(), dpop.ProofOptions{AccessToken: accessToken, Nonce: c.nonce(u),
		Now: c.now().Add(c.serverSkew())})
}

// nonce returns the latest DPoP-Nonce u's origin sent ("" when none).
func (c *Client) nonce(u *url.URL) string {
	c.nonceMu.Lock()
	defer c.nonceMu.Unlock()
	return c.nonces[origin(u)]
}

// learnNonce remembers the DPoP-Nonce of an answer from u's origin (RFC
// 9449 §8, §9): the next proof for that origin carries it. A server sends
// one when it wants its nonces in proofs, on errors and successes alike;
// each origin has nonces of its own. It reports whether h carried one.
func (c *Client) learnNonce(u *url.URL, h http.Header) bool {
	v := h.Get("DPoP-Nonce")
	if v == "" || c.key == nil {
		return v != ""
	}
	c.nonceMu.Lock()
	c.nonces[origin(u)] = v
	c.nonceMu.Unlock()
	return true
}

// serverSkew returns how far the server's clock is ahead of the client's,
// as last measured (see measureSkew): a proof's iat is by the server's
// clock, which checks it within a minute (RFC 9449 §4.3, §11.1).
func (c *Client) serverSkew() time.Duration {
	c.nonceMu.Lock()
	defer c.nonceMu.Unlock()
	return c.skew
}

// measureSkew learns the server's clock from tokens t it has just issued:
// their access token's exp claim is by the server's clock, their Expiry by
// the client's (the time the request was sent plus expiresIn).
func (c *Client) measureSkew(t Tokens) {
	if c.key == nil || t.Expiry.IsZero() {
		return
	}
	exp, ok := expClaim(t.AccessToken)
	if !ok {
		return
	}
	c.setSkew(exp.Sub(t.Expiry))
}

// setSkew sets how far the server's clock is ahead of the client's, to the
// second (both measures are).
func (c *Client) setSkew(d time.Duration) {
	c.nonceMu.Lock()
	c.skew = d.Round(time.Second)
	c.nonceMu.Unlock()
}

// expClaim returns the exp claim (RFC 7519 §4.1.4) of a JWT, unverified.
func expClaim(jwt string) (time.Time, bool) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *int64 `json:"exp"`
	}
	if json.Unmarshal(raw, &claims) != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	return time.Unix(*claims.Exp, 0), true
}

// DPoPTransport returns an http.RoundTripper for requests whose
// Authorization header another layer sets, such as x/oauth2's Transport
// over TokenSource: to a request carrying "Authorization: DPoP <token>" it
// adds a proof of the request signed by the client's key, with the token's
// hash and the latest nonce of the request's origin, and sends it through
// base (http.DefaultTransport when nil). When the answer is a 401 asking
// for a nonce (error="use_dpop_nonce" with a DPoP-Nonce header, RFC 9449
// §9), it sends the request once more with a new proof carrying that nonce,
// provided the body can be sent again. Other requests pass through as they
// are. Transport already does all this.
//
//	hc := &http.Client{Transport: &oauth2.Transport{Source: c.TokenSource(), Base: c.DPoPTransport(nil)}}
func (c *Client) DPoPTransport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &proofTransport{c: c, base: base}
}

type proofTransport struct {
	c    *Client
	base http.RoundTripper
}

func (t *proofTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, ok := dpopCredential(req.Header)
	if !ok || t.c.key == nil {
		resp, err := t.base.RoundTrip(req)
		if err == nil {
			t.c.learnNonce(req.URL, resp.Header)
		}
		return resp, err
	}
	resp, err := t.send(req, tok, req.Body)
	if err != nil || !wantsNonce(resp) {
		return resp, err
	}
	body := req.Body
	if body != nil && body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil // the body is gone: nothing to retry with
		}
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	discard(resp)
	return t.send(req, tok, body)
}

// send sends a copy of req, with body and a new proof for the access token
// tok, and learns the answer's nonce.
func (t *proofTransport) send(req *http.Request, tok string, body io.ReadCloser) (*http.Response, error) {
	p, err := t.c.proof(req.Method, req.URL, tok)
	if err != nil {
		closeBody(body)
		return nil, fmt.Errorf("latchkey: signing a DPoP proof: %w", err)
	}
	r := req.Clone(req.Context())
	r.Body = body
	r.Header.Set("DPoP", p)
	resp, err := t.base.RoundTrip(r)
	if err == nil {
		t.c.learnNonce(req.URL, resp.Header)
	}
	return resp, err
}

// wantsNonce reports whether a resource's answer asks for the proof to be
// sent again with the nonce it carries (RFC 9449 §9).
func wantsNonce(resp *http.Response) bool {
	return resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("DPoP-Nonce") != "" &&
		challengeError(resp.Header, "DPoP") == "use_dpop_nonce"
}

// dpopCredential returns the access token of an "Authorization: DPoP"
// header (RFC 9449 §7.1).
func dpopCredential(h http.Header) (string, bool) {
	vals := h.Values("Authorization")
	if len(vals) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !ok || !isDPoP(scheme) {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// dpopState is the client's DPoP state.
type dpopState struct {
	dpopOn bool          // WithDPoP was given
	key    crypto.Signer // nil: no DPoP
	// nonceMu guards nonces and skew.
	nonceMu sync.Mutex
	nonces  map[string]string // origin → latest DPoP-Nonce
	skew    time.Duration     // the server's clock minus the client's
}
