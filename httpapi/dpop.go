package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/dpop"
)

// DPoP policies (the DPOP setting).
const (
	// DPoPOff ignores DPoP headers on token requests: every session is a
	// bearer session. Tokens bound before keep needing their proofs.
	DPoPOff = "off"
	// DPoPAllowed honours a proof on a token request (the session is bound
	// to its key) and still serves bearer clients.
	DPoPAllowed = "allowed"
	// DPoPRequired refuses a token request without a proof.
	DPoPRequired = "required"
)

// DPoP is the HTTP side of RFC 9449, shared by every dialect: WithDPoP
// puts it in each request's context, where Meta finds the proof of a token
// request and Authenticate checks the proof of a request that presents an
// access token.
type DPoP struct {
	// Mode is DPoPOff, DPoPAllowed (the zero value's meaning) or
	// DPoPRequired.
	Mode string
	// Verifier checks proofs (its Replay is not used: the domain records
	// proofs in the store, a refresh's in the same transaction); its Nonces,
	// when set, make every proof carry a current server nonce.
	Verifier *dpop.Verifier
	// External is the base URL clients use for this handler, prefix
	// included (PUBLIC_URL, else the issuer): the htu a proof must name is
	// External plus the request's path below the prefix (dpop.HTU).
	External string
}

type dpopKey struct{}

// WithDPoP returns ctx carrying d, for the dialects' token and access
// token checks. The host puts it there with its other per-request values,
// so that every request is copied once (http.Request.WithContext).
func WithDPoP(ctx context.Context, d *DPoP) context.Context {
	return context.WithValue(ctx, dpopKey{}, d)
}

// SetNonce sends, when d's Verifier has Nonces, the current nonce in the
// DPoP-Nonce header (RFC 9449 §8: the client uses it in its next proof).
// Every response carries it.
func (d *DPoP) SetNonce(h http.Header) {
	if d.Verifier.Nonces != nil {
		h["Dpop-Nonce"] = []string{d.Verifier.Nonces.Current()} // "DPoP-Nonce", canonical: h.Set would allocate the key every time
	}
}

// dpopOf returns the DPoP of r's context, nil when none is set up (a
// handler used without WithDPoP: tokens are bearer only).
func dpopOf(r *http.Request) *DPoP {
	d, _ := r.Context().Value(dpopKey{}).(*DPoP)
	return d
}

// tokenProof fills m's Proof, or ProofError, from the DPoP header of a
// token request (sign-in, refresh): the domain binds a new session to the
// proof's key and checks a bound session's refresh against it.
func tokenProof(r *http.Request, m *auth.Meta) {
	d := dpopOf(r)
	if d == nil {
		return
	}
	// DPOP=off binds no new session, but a session bound before still
	// refreshes with proofs by its key: the proof is checked for it alone.
	m.BoundOnly = d.Mode == DPoPOff
	p, err := d.RequestProof(r, "")
	switch {
	case err != nil:
		m.ProofError = proofError(err)
	case p != nil:
		m.Proof = proofOf(p)
	case d.Mode == DPoPRequired:
		m.ProofError = errProofRequired()
	}
}

// RequestProof returns the proof of r's DPoP header, checked by d's
// Verifier for this request (its method, and its URL as d.External makes
// it) and, when accessToken is not "", for that token (ath): not yet
// recorded in a replay cache. Nil and no error when r has no DPoP header;
// a *dpop.Error when the header is refused.
func (d *DPoP) RequestProof(r *http.Request, accessToken string) (*dpop.Proof, error) {
	header, err := dpop.FromHeader(r.Header)
	if err != nil || header == "" {
		return nil, err
	}
	return d.Verifier.Check(header, r.Method, dpop.HTU(r, d.External), accessToken)
}

// errProofRequired is the refusal of a request that mints a token without
// a proof under DPOP=required.
func errProofRequired() error {
	return &auth.Error{Code: auth.CodeInvalidDPoPProof, Reason: dpop.ReasonMissing,
		Message: "a DPoP proof is required (DPOP=required): send a DPoP header (RFC 9449)"}
}

// ProofReplayMargin is how long past the end of its proof's window a jti
// stays in the store's replay cache. Every instance purges the cache by its
// own clock; the margin keeps a proof recorded until it is past its window
// at every instance whose clock is less than that far behind the purging
// one's (RFC 9449 §11.1: a jti must be remembered for as long as the proof
// would be accepted).
const ProofReplayMargin = time.Minute

func proofOf(p *dpop.Proof) *auth.Proof {
	key := dpop.ReplayKey(p.JKT, p.JTI)
	return &auth.Proof{JKT: p.JKT, Key: key[:], Expires: p.Until.Add(ProofReplayMargin)}
}

// proofError is the domain error of a proof the dpop package refused.
func proofError(err error) error {
	reason := dpop.Reason(err)
	if reason == "" {
		reason = dpop.ReasonHTU // the request's own URL could not be normalised
	}
	return auth.ProofRefused(reason, reason == dpop.ReasonUseNonce, err)
}

// AccessToken returns the access token a request presents and its
// principal. A token bound to a DPoP key (cnf.jkt) must come as
// "Authorization: DPoP <token>" with a proof by that key whose ath is the
// token's hash (RFC 9449 §7.1); sent as Bearer it is refused (§7.2), and
// so is a bearer token sent with the DPoP scheme. The proof is recorded in
// the replay cache. Without a token it is NoBearer.
func AccessToken(r *http.Request, svc *auth.Service) (string, auth.Principal, error) {
	tok, isDPoP, ok := Authorization(r)
	if !ok {
		return "", auth.Principal{}, NoBearer()
	}
	p, err := svc.Authenticate(r.Context(), tok)
	if err != nil {
		return "", p, err
	}
	bound := p.Claims.JKT != ""
	switch {
	case bound && !isDPoP:
		return "", auth.Principal{}, &auth.Error{Code: auth.CodeInvalidToken, Reason: "dpop_bound",
			Message: "the access token is bound to a DPoP key: send it as Authorization: DPoP with a DPoP proof"}
	case !bound && isDPoP:
		return "", auth.Principal{}, &auth.Error{Code: auth.CodeInvalidToken,
			Message: "the access token is not bound to a DPoP key: send it as Authorization: Bearer"}
	}
	if err := ConfirmProof(r, svc, tok, p); err != nil {
		return "", auth.Principal{}, err
	}
	return tok, p, nil
}

// ConfirmProof checks, for an access token tok of principal p that the
// request presents (in a header or elsewhere), that a token bound to a DPoP
// key comes with the request's proof by that key, for this request, whose
// ath is the token's hash (RFC 9449 §7.1), and records the proof in the
// replay cache. A bearer token needs nothing.
func ConfirmProof(r *http.Request, svc *auth.Service, tok string, p auth.Principal) error {
	if p.Claims.JKT == "" {
		return nil
	}
	d := dpopOf(r)
	if d == nil {
		d = &defaultDPoP
	}
	proof, err := d.BoundProof(r, tok, p.Claims.JKT)
	if err != nil {
		return proofError(err)
	}
	return svc.UseProof(r.Context(), *proofOf(proof))
}

// BoundProof is RequestProof for an access token tok bound to the key of
// thumbprint jkt: the proof must be there (reason missing) and signed by
// that key (reason key_mismatch). Recording it against replay is the
// caller's.
func (d *DPoP) BoundProof(r *http.Request, tok, jkt string) (*dpop.Proof, error) {
	p, err := d.RequestProof(r, tok)
	switch {
	case err != nil:
		return nil, err
	case p == nil:
		return nil, &dpop.Error{Reason: dpop.ReasonMissing, Detail: "no DPoP header"}
	case p.JKT != jkt:
		return nil, &dpop.Error{Reason: dpop.ReasonKeyMismatch, Detail: "the proof is not signed by the key the token is bound to"}
	}
	return p, nil
}

// defaultDPoP checks the proofs of bound tokens on a handler used without
// WithDPoP: the default Verifier, the request's own URL.
var defaultDPoP = DPoP{Verifier: &dpop.Verifier{}}

// RequiredProof is, for a request that mints a token from a bearer access
// token (bearer renewal), what DPOP=required asks of every request that
// mints a token: a proof of the request, checked and recorded in the replay
// cache (the token stays bearer: a session's binding never changes). Nil
// under the other policies, and for a bound token, whose proof
// AccessToken has checked already.
func RequiredProof(r *http.Request, svc *auth.Service, p auth.Principal) error {
	d := dpopOf(r)
	if d == nil || d.Mode != DPoPRequired || p.Claims.JKT != "" {
		return nil
	}
	proof, err := d.RequestProof(r, "")
	switch {
	case err != nil:
		return proofError(err)
	case proof == nil:
		return errProofRequired()
	}
	return svc.UseProof(r.Context(), *proofOf(proof))
}

// DPoPChallenge returns the DPoP challenge of a 401 on a route that takes
// an access token (RFC 9449 §7.1), sent beside the Bearer one: the accepted
// algorithms, and error="use_dpop_nonce" or "invalid_dpop_proof" when that
// is why the request was refused.
func DPoPChallenge(err error) string {
	var e *auth.Error
	if errors.As(err, &e) && (e.Code == auth.CodeUseDPoPNonce || e.Code == auth.CodeInvalidDPoPProof ||
		e.Code == auth.CodeInvalidToken && !errors.Is(err, ErrNoBearer)) {
		return DPoPChallengeFor(string(e.Code), defaultAlgs)
	}
	return DPoPChallengeFor("", defaultAlgs)
}

// defaultAlgs are the algorithms of the handler's challenges, space-separated.
var defaultAlgs = strings.Join(dpop.DefaultAlgs(), " ")

// DPoPChallengeFor returns the DPoP challenge (RFC 9449 §7.1) with the
// error code errCode ("" for none; use_dpop_nonce with its description,
// §9) and the accepted algorithms algs, space-separated.
func DPoPChallengeFor(errCode, algs string) string {
	switch errCode {
	case "":
		return `DPoP algs="` + algs + `"`
	case string(auth.CodeUseDPoPNonce):
		return `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="` + algs + `"`
	}
	return `DPoP error="` + errCode + `", algs="` + algs + `"`
}

// WriteChallenges sets the WWW-Authenticate challenges of a 401 on a route
// that takes an access token: Bearer (RFC 6750 §3) and DPoP (RFC 9449 §7.1).
// When the DPoP proof was the reason, the error is the DPoP challenge's
// alone: the Bearer one then names no error.
func WriteChallenges(h http.Header, err error) {
	bearer := BearerChallenge(err)
	if c := auth.ErrorCode(err); c == auth.CodeInvalidDPoPProof || c == auth.CodeUseDPoPNonce {
		bearer = BearerChallenge(ErrNoBearer)
	}
	h.Set("WWW-Authenticate", bearer)
	h.Add("WWW-Authenticate", DPoPChallenge(err))
}

// DPoPAlgs returns the proof algorithms the server accepts on token
// requests (RFC 8414's dpop_signing_alg_values_supported, RFC 9449 §5.1),
// nil when DPoP is off for them.
func DPoPAlgs(r *http.Request) []string {
	d := dpopOf(r)
	if d == nil || d.Mode == DPoPOff {
		return nil
	}
	return d.Verifier.AllowedAlgs()
}

// PresentedToken returns the access token of an "Authorization: Bearer" or
// "Authorization: DPoP" header, unchecked.
func PresentedToken(r *http.Request) (string, bool) {
	tok, _, ok := Authorization(r)
	return tok, ok
}
