package server_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/dpop"
	"github.com/latchkey-dev/latchkey/server/servertest"
	"github.com/latchkey-dev/latchkey/store"
)

// recorded reports whether the store's replay cache holds the proof of key
// jkt and id jti: recording it again fails only then (a probe that records
// it when it was not).
func recorded(t *testing.T, st store.Store, jkt, jti string, now time.Time) bool {
	t.Helper()
	key := dpop.ReplayKey(jkt, jti)
	err := st.UseProof(context.Background(), store.ProofUse{Key: key[:], Expires: now.Add(time.Minute)})
	switch {
	case err == nil:
		return false
	case errors.Is(err, store.ErrReplay):
		return true
	}
	t.Fatal(err)
	return false
}

// A sign-in the rate limit refuses records nothing: its proof is checked
// (statelessly) but not written to the replay cache, so a client over the
// limit cannot make the server write a row per request.
func TestDPoPRateLimitedSignInRecordsNoProof(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) {
		c.RateLimits = true
		c.RateLimitSigninFailuresAccount = config.Rate{Count: 1000, Per: time.Minute}
		c.RateLimitSigninFailuresIP = config.Rate{Count: 1000, Per: time.Minute}
		c.RateLimitSigninIP = config.Rate{Count: 1, Per: time.Minute}
		c.RateLimitRefreshIP = config.Rate{Count: 1000, Per: time.Minute}
		c.RateLimitSignupIP = config.Rate{Count: 1000, Per: time.Minute}
		c.RateLimitSignupGlobal = config.Rate{Count: 1000, Per: time.Minute}
	})
	d := dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}
	jkt, _ := dpop.Thumbprint(d.key.Public())
	dpopSignIn(t, s, d, "limited@example.com") // the one sign-in the minute allows
	for i := range 3 {
		jti := "over-the-limit-" + string(rune('a'+i))
		r := s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": "limited@example.com", "password": "password123"},
			"DPoP: "+d.proof(t, "POST", "/auth/sign-in", dpop.ProofOptions{JTI: jti}))
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("sign-in over the limit: %d %s", r.Status, r.Body)
		}
		if recorded(t, s.App.Store, jkt, jti, s.Clock.Now()) {
			t.Fatalf("the proof of a rate-limited sign-in was written to the replay cache")
		}
	}
}

var _ = filepath.Join
