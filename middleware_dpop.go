package latchkey

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/latchkey-dev/latchkey/dpop"
	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/token"
)

// DPoP on the host's own routes (RFC 9449 §7). An access token bound to a
// key (its cnf.jkt claim, §6) is accepted only as "Authorization: DPoP
// <token>" with a DPoP header holding a proof signed by that key, for this
// request's method and URL, whose ath is the token's hash, not seen before.
// Bearer tokens are accepted as they always were.

// ErrDPoPBoundAsBearer is Authenticate's error for an access token bound to
// a DPoP key that came as "Authorization: Bearer": whoever sends it so does
// not prove to hold the key, and a resource must refuse it (RFC 9449 §7.2).
var ErrDPoPBoundAsBearer = errors.New("latchkey: the access token is bound to a DPoP key: send it as Authorization: DPoP with a DPoP proof")

// ErrNotDPoPBound is Authenticate's error for an access token that is not
// bound to a key but came with the DPoP scheme: it is a bearer token.
var ErrNotDPoPBound = errors.New("latchkey: the access token is not bound to a DPoP key: send it as Authorization: Bearer")

// DPoPOptions configure how an Authenticator checks the proofs of
// DPoP-bound access tokens. The zero value is ready to use: proofs name the
// URL the request came to, and their jti are remembered in memory.
type DPoPOptions struct {
	// ExternalURL is the base URL clients call the routes behind Middleware
	// at, when a proxy in front changes the scheme, host or path: e.g.
	// "https://api.example.com", or "https://example.com/api" when the proxy
	// strips "/api" before the request gets here. The htu a proof must name
	// is ExternalURL followed by the request's path. Empty: the request's
	// own scheme (TLS or not), Host and path.
	ExternalURL string
	// Algs are the proof algorithms accepted, among dpop.DefaultAlgs() (all
	// of them when empty; New refuses any other name). 401 answers list
	// them (algs="...").
	Algs []string
	// Lifetime is how long after its iat a proof is accepted
	// (dpop.DefaultLifetime, 60s); Leeway is the clock skew tolerated
	// (dpop.DefaultLeeway, 5s).
	Lifetime, Leeway time.Duration
	// Replay remembers the proofs seen, so none is accepted twice (RFC 9449
	// §11.1). Nil: a cache in this process's memory of at most ReplayMax
	// entries (dpop.DefaultReplayMax when 0), which refuses new proofs with
	// 503 when full rather than forget one early. Several instances of the
	// host behind one load balancer need a shared cache, or a proof one has
	// accepted can be replayed at another within its lifetime.
	Replay    dpop.ReplayCache
	ReplayMax int
	// Nonces, when set, makes every proof carry a nonce this resource issued
	// (RFC 9449 §9): Middleware sends the current one in a DPoP-Nonce header
	// on every answer, and refuses a proof without it with 401 and
	// error="use_dpop_nonce", which clients answer by retrying with it.
	Nonces *dpop.Nonces
}

// dpopCheck checks the proofs of bound tokens for one Authenticator.
type dpopCheck struct {
	proofs httpapi.DPoP // its Verifier and External (Mode is for token routes)
	replay dpop.ReplayCache
	algs   string // for the challenges: the allowed algorithms, space-separated
}

// newDPoPCheck returns the check o describes, on the clock now (time.Now
// when nil).
func newDPoPCheck(o DPoPOptions, now func() time.Time) *dpopCheck {
	if now == nil {
		now = time.Now
	}
	replay := o.Replay
	if replay == nil {
		replay = dpop.NewMemoryReplay(o.ReplayMax, now)
	}
	v := &dpop.Verifier{Lifetime: o.Lifetime, Leeway: o.Leeway, Now: now, Algs: o.Algs, Nonces: o.Nonces}
	return &dpopCheck{proofs: httpapi.DPoP{Verifier: v, External: o.ExternalURL}, replay: replay, algs: strings.Join(v.AllowedAlgs(), " ")}
}

// check checks the request's proof for the access token tok, bound to the
// key of thumbprint jkt: a *dpop.Error when it is refused (reason
// key_mismatch when signed by another key), or an error wrapping
// errReplayUnavailable when the replay cache cannot answer.
func (d *dpopCheck) check(r *http.Request, tok, jkt string) error {
	// The key is checked before the replay cache: a proof by another key
	// must not take a place in it.
	p, err := d.proofs.BoundProof(r, tok, jkt)
	if err != nil {
		return err
	}
	err = d.replay.Use(r.Context(), p.JKT, p.JTI, p.Until)
	var pe *dpop.Error
	if err != nil && !errors.As(err, &pe) {
		// Not a replay: the cache could not answer (full, or a shared one
		// unreachable), so the proof cannot be judged now.
		return fmt.Errorf("%w: %w", errReplayUnavailable, err)
	}
	return err
}

// errReplayUnavailable wraps a failure of the replay cache: Middleware
// answers 503, as for any other part it cannot reach.
var errReplayUnavailable = errors.New("latchkey: the DPoP replay cache is unavailable")

// challenges sets the WWW-Authenticate challenges of a 401 (RFC 6750 §3,
// RFC 9449 §7.1): one for each scheme Middleware takes, the DPoP one with
// the algorithms it accepts. bearerErr and dpopErr are the error codes of
// each ("" for none).
func (d *dpopCheck) challenges(h http.Header, bearerErr, dpopErr string) {
	bearer := "Bearer"
	if bearerErr != "" {
		bearer += ` error="` + bearerErr + `"`
	}
	h.Set("WWW-Authenticate", bearer)
	h.Add("WWW-Authenticate", httpapi.DPoPChallengeFor(dpopErr, d.algs))
}

// refuseDPoP writes Middleware's answer to a failure of the DPoP checks,
// and reports whether err was one.
func (a *Authenticator) refuseDPoP(w http.ResponseWriter, r *http.Request, err error) bool {
	var pe *dpop.Error
	switch {
	case errors.Is(err, ErrDPoPBoundAsBearer):
		a.dpop.challenges(w.Header(), "invalid_token", "")
		writeRefusalReason(w, "invalid_token", "dpop_bound",
			"the access token is bound to a DPoP key: send it as Authorization: DPoP with a DPoP proof")
	case errors.Is(err, ErrNotDPoPBound):
		a.dpop.challenges(w.Header(), "", "invalid_token")
		writeRefusal(w, http.StatusUnauthorized, "invalid_token", "the access token is not bound to a DPoP key: send it as Authorization: Bearer")
	case errors.Is(err, dpop.ErrUseNonce):
		// The nonce to use is in the DPoP-Nonce header Middleware sets on
		// every answer (RFC 9449 §9).
		a.dpop.challenges(w.Header(), "", dpop.ReasonUseNonce)
		writeRefusal(w, http.StatusUnauthorized, "use_dpop_nonce", "the DPoP proof must carry the nonce of the DPoP-Nonce header")
	case errors.As(err, &pe):
		a.dpop.challenges(w.Header(), "", "invalid_dpop_proof")
		writeRefusalReason(w, "invalid_dpop_proof", pe.Reason, "the DPoP proof is missing or invalid ("+pe.Reason+")")
	default:
		return false
	}
	return true
}

// writeRefusalReason writes a 401 with the error's reason.
func writeRefusalReason(w http.ResponseWriter, code, reason, msg string) {
	writeRefusalBody(w, http.StatusUnauthorized, map[string]string{"error": code, "message": msg, "error_reason": reason})
}

// isTokenError reports whether err says the access token itself is no good.
func isTokenError(err error) bool {
	return errors.Is(err, token.ErrExpired) || errors.Is(err, token.ErrWrongKind) || errors.Is(err, token.ErrMalformed) ||
		errors.Is(err, token.ErrSignature) || errors.Is(err, token.ErrClaims)
}
