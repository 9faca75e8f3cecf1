package token

import (
	"bytes"
	"fmt"

	"github.com/latchkey-dev/latchkey/internal/jsonkeys"
)

// Claim names and encoding/json.
//
// The claims are decoded with encoding/json, which matches a member name to
// a struct field without regard to case, with Unicode simple folding ("ſub",
// U+017F, is "sub"; "SUB" is too), the last of several matches winning. A
// token whose payload held {"sub":"me","ſub":"victim"} would decode with
// sub = victim. Two rules close that, one at each end:
//
//   - at mint, an application claim (AccessClaims.Extra) whose name is, or
//     folds onto, a registered name is dropped: registered claims always
//     win, whatever the spelling;
//   - at verify (Issuer and Verifier alike, so a resource server that checks
//     tokens against the JWKS applies it too), a payload with a member that
//     folds onto a registered name without being it exactly, or with a
//     registered name twice, is refused with ErrClaims.

// registeredClaims are the members of payload: what the verifier decodes
// into fields, and never returns as extra claims.
var registeredClaims = map[string]bool{"iss": true, "sub": true, "aud": true, "exp": true, "iat": true,
	"nbf": true, "jti": true, "sid": true, "gen": true, "client_id": true, "token_use": true, "cnf": true}

// registeredList is registeredClaims in a fixed order, for the fold check.
var registeredList = []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "gen", "client_id", "token_use", "cnf"}

var registeredBytes = func() [][]byte {
	out := make([][]byte, len(registeredList))
	for i, r := range registeredList {
		out[i] = []byte(r)
	}
	return out
}()

// foldsOntoRegistered returns the index in registeredList of the registered
// claim encoding/json would decode the member name into, or -1, and whether
// name is that claim exactly.
func foldsOntoRegistered(name []byte) (int, bool) {
	for i, r := range registeredBytes {
		// bytes.EqualFold is Unicode simple folding, the relation
		// encoding/json matches field names by. A folded spelling is never
		// shorter than the ASCII name (each ASCII letter's fold partners
		// are one or more bytes).
		if len(name) >= len(r) && bytes.EqualFold(name, r) {
			return i, bytes.Equal(name, r)
		}
	}
	return -1, false
}

// dropFolded reports whether an application claim must be dropped at mint:
// its name is, or folds onto, a registered claim.
func dropFolded(name string) bool {
	i, _ := foldsOntoRegistered([]byte(name))
	return i >= 0
}

// claimScan is the state of one pass over a payload's member names.
type claimScan struct {
	seen  uint16 // bit i: registeredList[i] met exactly
	extra bool   // a member that is not a registered claim
	err   error
}

func (s *claimScan) key(k []byte) {
	if s.err != nil {
		return
	}
	i, exact := foldsOntoRegistered(k)
	switch {
	case i < 0:
		s.extra = true
	case !exact:
		s.err = fmt.Errorf("%w: member %s folds onto the registered claim %q", ErrClaims, quoteName(k), registeredList[i])
	case s.seen&(1<<i) != 0:
		s.err = fmt.Errorf("%w: claim %q appears twice", ErrClaims, registeredList[i])
	default:
		s.seen |= 1 << i
	}
}

// checkClaimNames applies the verify rule above to the payload body (which
// encoding/json has accepted) and reports whether it has members beyond
// the registered claims.
func checkClaimNames(body []byte) (extra bool, err error) {
	var s claimScan
	if !jsonkeys.Each(body, s.key) {
		s = claimScan{}
		if err := jsonkeys.EachDecoded(body, s.key); err != nil {
			return false, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
		}
	}
	return s.extra, s.err
}

// quoteName quotes a member name for an error message, bounded.
func quoteName(b []byte) string {
	if len(b) > 40 {
		b = b[:40]
	}
	return fmt.Sprintf("%q", b)
}
