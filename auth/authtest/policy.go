package authtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/store"
)

// RunPolicy runs every refresh-policy case as a subtest of t, each with a new
// Env over a new store from newStore. newStore should return a migrated,
// empty store and register its cleanup with t.Cleanup.
func RunPolicy(t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, c := range policyCases {
		t.Run(c.name, func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("this case checks that %s", c.what)
				}
			})
			c.run(t, New(t, newStore(t), c.policy))
		})
	}
}

// policyCase is one entry of the suite: what it checks, in a sentence, the
// policy it runs under (the default changed by policy, when not nil), and
// the check.
type policyCase struct {
	name, what string
	policy     func(*auth.Policy)
	run        func(t *testing.T, e *Env)
}

var policyCases = []policyCase{
	{
		name: "ReuseInsideIntervalReturnsCurrentGeneration",
		what: "the immediately preceding refresh token, presented within the reuse interval after the rotation that superseded it, yields the session's current generation instead of revoking the session, and that copy still rotates",
		run: func(t *testing.T, e *Env) {
			ctx := t.Context()
			g := e.SignIn(t, "a@example.com")
			g2 := e.Refresh(t, g.RefreshToken)
			e.Clock.Advance(auth.DefaultPolicy().ReuseInterval - time.Second)
			g3, err := e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
			if err != nil || !g3.Reissued || g3.Session.Generation != g2.Session.Generation {
				t.Fatalf("the preceding token inside the interval: %+v, %v; want generation %d reissued", g3, err, g2.Session.Generation)
			}
			if _, err := e.Service.Refresh(ctx, g3.RefreshToken, "", auth.Meta{}); err != nil {
				t.Fatalf("the reissued current generation must still rotate: %v", err)
			}
		},
	},
	{
		name: "ReuseOutsideIntervalRevokesTheFamily",
		what: "a superseded refresh token presented once the reuse interval has passed revokes the whole session: the current refresh token dies too, and the session's access tokens introspect inactive",
		run: func(t *testing.T, e *Env) {
			ctx := t.Context()
			g := e.SignIn(t, "a@example.com")
			g2 := e.Refresh(t, g.RefreshToken)
			e.Clock.Advance(auth.DefaultPolicy().ReuseInterval) // at the end of the interval it is over
			_, err := e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
			WantCode(t, err, auth.CodeRefreshReused)
			_, err = e.Service.Refresh(ctx, g2.RefreshToken, "", auth.Meta{})
			WantCode(t, err, auth.CodeRefreshReused)
			if s, _ := e.Store.Session(ctx, g.Session.ID); !s.Revoked() || s.RevokeReason != string(auth.CodeRefreshReused) {
				t.Fatalf("session after reuse: %+v", s)
			}
			if in, err := e.Service.Introspect(ctx, g2.AccessToken, false); err != nil || in.Active {
				t.Fatalf("access token of a revoked session introspects %+v, %v", in, err)
			}
		},
	},
	{
		name: "OlderThanPrecedingIsReuseEvenInsideInterval",
		what: "a token two generations back is never the immediately preceding one: inside the interval too it is reuse",
		run: func(t *testing.T, e *Env) {
			ctx := t.Context()
			g := e.SignIn(t, "a@example.com")
			g2 := e.Refresh(t, g.RefreshToken)
			e.Refresh(t, g2.RefreshToken)
			_, err := e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
			WantCode(t, err, auth.CodeRefreshReused)
		},
	},
	{
		name: "ParallelDoubleSpend",
		what: "32 concurrent refreshes with one token make exactly one rotation; the others get the current generation (inside the interval) and the session ends with one live chain",
		run: func(t *testing.T, e *Env) {
			g := e.SignIn(t, "a@example.com")
			var (
				wg                sync.WaitGroup
				mu                sync.Mutex
				rotated, reissued int
				errs              []error
			)
			for range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					g2, err := e.Service.Refresh(context.Background(), g.RefreshToken, "", auth.Meta{})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err != nil:
						errs = append(errs, err)
					case g2.Reissued:
						reissued++
					default:
						rotated++
					}
				}()
			}
			wg.Wait()
			if rotated != 1 || reissued != 31 || len(errs) != 0 {
				t.Fatalf("rotated %d, reissued %d, errors %v; want exactly one rotation", rotated, reissued, errs)
			}
			if s, _ := e.Store.Session(t.Context(), g.Session.ID); s.Generation != g.Session.Generation+1 {
				t.Fatalf("generation %d, want %d: more than one live chain", s.Generation, g.Session.Generation+1)
			}
		},
	},
	{
		name:   "ExpiryIsExactAndCapped",
		what:   "refresh expiry is exact (expired at the instant, no leeway), the sliding expiry never passes the absolute session cap, and no access token outlives its session",
		policy: func(p *auth.Policy) { p.RefreshTTL = time.Hour; p.SessionMaxLifetime = 90 * time.Minute },
		run: func(t *testing.T, e *Env) {
			ctx := t.Context()
			g := e.SignIn(t, "a@example.com")
			e.Clock.Advance(time.Hour)
			_, err := e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
			WantCode(t, err, auth.CodeRefreshExpired)

			g = e.SignIn(t, "a@example.com")
			e.Clock.Advance(59 * time.Minute)
			g2 := e.Refresh(t, g.RefreshToken)
			if !g2.RefreshExpiresAt.Equal(g.Session.AbsoluteExpiresAt) {
				t.Fatalf("refresh expiry %v, want the absolute cap %v", g2.RefreshExpiresAt, g.Session.AbsoluteExpiresAt)
			}
			if g2.AccessExpiresAt.After(g2.Session.AbsoluteExpiresAt) {
				t.Fatal("the access token outlives the session")
			}
			e.Clock.Advance(31 * time.Minute)
			_, err = e.Service.Refresh(ctx, g2.RefreshToken, "", auth.Meta{})
			WantCode(t, err, auth.CodeRefreshExpired, auth.CodeSessionExpired)
		},
	},
	{
		name: "InactiveUserCaughtByTheRotation",
		what: "a user made inactive directly in the store (another tool, another instance) can no longer refresh, and the session is revoked",
		run: func(t *testing.T, e *Env) {
			ctx := t.Context()
			g := e.SignIn(t, "a@example.com")
			u := g.User
			u.Status = store.UserInactive
			if err := e.Store.UpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			_, err := e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
			WantCode(t, err, auth.CodeUserInactive)
			if s, _ := e.Store.Session(ctx, g.Session.ID); !s.Revoked() {
				t.Fatal("the session of an inactive user is not revoked")
			}
		},
	},
	{
		name:   "PurgeKeepsLiveSessions",
		what:   "purge through the domain deletes the expired session and leaves the live one refreshable",
		policy: func(p *auth.Policy) { p.RefreshTTL = time.Hour },
		run: func(t *testing.T, e *Env) {
			ctx := t.Context()
			old := e.SignIn(t, "a@example.com")
			e.Clock.Advance(2 * time.Hour)
			live := e.SignIn(t, "a@example.com")
			if n, err := e.Service.Purge(ctx, 5*time.Second); err != nil || n != 1 {
				t.Fatalf("purge deleted %d (%v), want the one expired session", n, err)
			}
			_, err := e.Service.Refresh(ctx, old.RefreshToken, "", auth.Meta{})
			WantCode(t, err, auth.CodeRefreshExpired)
			e.Refresh(t, live.RefreshToken)
		},
	},
	{
		name: "RenewalStopsOnceTheSessionRotates",
		what: "bearer renewal keeps the token's generation, and an access token whose session has been refreshed since it was issued no longer renews (a stolen copy dies at the victim's next refresh), while the current one does",
		run: func(t *testing.T, e *Env) {
			ctx := t.Context()
			g := e.SignIn(t, "a@example.com")
			gen := func(tok string) int64 {
				p, err := e.Service.Authenticate(ctx, tok)
				if err != nil {
					t.Fatal(err)
				}
				return p.Claims.Generation
			}
			r, err := e.Service.RenewAccess(ctx, g.AccessToken)
			if err != nil || gen(r.AccessToken) != 1 {
				t.Fatalf("renewal at generation 1: %+v, %v", r, err)
			}
			stolen := r.AccessToken
			e.Clock.Advance(time.Minute)
			g2 := e.Refresh(t, g.RefreshToken)
			if gen(g2.AccessToken) != 2 {
				t.Fatalf("the refreshed access token carries generation %d, want 2", gen(g2.AccessToken))
			}
			for _, tok := range []string{g.AccessToken, stolen} {
				_, err := e.Service.RenewAccess(ctx, tok)
				WantCode(t, err, auth.CodeAccessSuperseded)
			}
			r2, err := e.Service.RenewAccess(ctx, g2.AccessToken)
			if err != nil || gen(r2.AccessToken) != 2 {
				t.Fatalf("renewal of the current token: %+v, %v", r2, err)
			}
			// The reissue inside the reuse interval hands out the current
			// generation, which renews.
			g3, err := e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
			if err != nil || !g3.Reissued || gen(g3.AccessToken) != 2 {
				t.Fatalf("reissue: %+v, %v", g3, err)
			}
			if _, err := e.Service.RenewAccess(ctx, g3.AccessToken); err != nil {
				t.Fatalf("renewal of the reissued token: %v", err)
			}
		},
	},
	{
		name:   "RenewalWithoutRotationKeepsWorking",
		what:   "with rotation off the generation never moves, so refreshes do not stop renewal (there is no reuse detection either)",
		policy: func(p *auth.Policy) { p.Rotation = false },
		run: func(t *testing.T, e *Env) {
			g := e.SignIn(t, "a@example.com")
			e.Refresh(t, g.RefreshToken)
			if _, err := e.Service.RenewAccess(t.Context(), g.AccessToken); err != nil {
				t.Fatalf("renewal after a refresh without rotation: %v", err)
			}
		},
	},
}
