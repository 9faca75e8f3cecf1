package storetest

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

// The refresh policy (reuse interval, family revocation, expiry, inactive
// users) is decided by the domain from what Rotate and Session return, so
// the suite also runs the real auth.Service over the backend under test:
// every backend must support the policy, not only the primitives.

type policyClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *policyClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *policyClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type policyEnv struct {
	svc   *auth.Service
	clock *policyClock
	grant *auth.Grant
}

// service returns a Service over the fixture's store with the default
// policy changed by mod, and a signed-in user.
func (f *fixture) service(mod func(*auth.Policy)) *policyEnv {
	f.t.Helper()
	clk := &policyClock{t: base}
	iss, err := token.NewIssuer(token.Options{Issuer: "http://storetest", Audience: "latchkey",
		RefreshSecret: []byte(strings.Repeat("s", 32)), Leeway: 5 * time.Second, PublishRetiredFor: time.Hour, Now: clk.now})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := iss.LoadKeys(f.ctx, f.s, token.ES256, nil); err != nil {
		f.t.Fatal(err)
	}
	pol := auth.DefaultPolicy
	if mod != nil {
		mod(&pol)
	}
	svc := auth.New(auth.Options{Store: f.s, Tokens: iss, Hasher: password.New(password.Cheap, 4, 64), Policy: pol,
		Now: clk.now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	email := "policy-" + newID()[:8] + "@example.com"
	if _, err := svc.SignUp(f.ctx, email, "password123"); err != nil {
		f.t.Fatal(err)
	}
	g, err := svc.SignIn(f.ctx, email, "password123", auth.Meta{})
	if err != nil {
		f.t.Fatal(err)
	}
	return &policyEnv{svc: svc, clock: clk, grant: g}
}

func (f *fixture) wantCode(err error, want ...auth.Code) {
	f.t.Helper()
	got := auth.ErrorCode(err)
	for _, w := range want {
		if got == w {
			return
		}
	}
	f.t.Fatalf("error %v (code %q), want one of %v", err, got, want)
}

var policyCases = []testCase{
	{
		name: "PolicyReuseInsideIntervalReturnsCurrentGeneration",
		what: "the immediately preceding refresh token, presented within the reuse interval after the rotation that superseded it, yields the session's current generation instead of revoking the session",
		run: func(f *fixture) {
			e := f.service(nil)
			g2, err := e.svc.Refresh(f.ctx, e.grant.RefreshToken, "", auth.Meta{})
			if err != nil {
				f.t.Fatal(err)
			}
			e.clock.add(9 * time.Second)
			g3, err := e.svc.Refresh(f.ctx, e.grant.RefreshToken, "", auth.Meta{})
			if err != nil || !g3.Reissued || g3.Session.Generation != g2.Session.Generation {
				f.t.Fatalf("grace answer %+v, %v", g3, err)
			}
			if _, err := e.svc.Refresh(f.ctx, g2.RefreshToken, "", auth.Meta{}); err != nil {
				f.t.Fatalf("the current token must still rotate: %v", err)
			}
		},
	},
	{
		name: "PolicyReuseOutsideIntervalRevokesFamily",
		what: "a superseded refresh token presented after the reuse interval revokes the whole session, so the current token dies too",
		run: func(f *fixture) {
			e := f.service(nil)
			g2, err := e.svc.Refresh(f.ctx, e.grant.RefreshToken, "", auth.Meta{})
			if err != nil {
				f.t.Fatal(err)
			}
			e.clock.add(10 * time.Second)
			_, err = e.svc.Refresh(f.ctx, e.grant.RefreshToken, "", auth.Meta{})
			f.wantCode(err, auth.CodeRefreshReused)
			_, err = e.svc.Refresh(f.ctx, g2.RefreshToken, "", auth.Meta{})
			f.wantCode(err, auth.CodeRefreshReused, auth.CodeSessionRevoked)
			if s, _ := f.s.Session(f.ctx, e.grant.Session.ID); !s.Revoked() {
				f.t.Fatal("session not revoked")
			}
		},
	},
	{
		name: "PolicyParallelDoubleSpend",
		what: "32 concurrent refreshes with one token make exactly one rotation; the others get the current generation (inside the interval) and the session ends with one live chain",
		run: func(f *fixture) {
			e := f.service(nil)
			var wg sync.WaitGroup
			var mu sync.Mutex
			rotated, reissued := 0, 0
			var errs []error
			for range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					g, err := e.svc.Refresh(context.Background(), e.grant.RefreshToken, "", auth.Meta{})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err != nil:
						errs = append(errs, err)
					case g.Reissued:
						reissued++
					default:
						rotated++
					}
				}()
			}
			wg.Wait()
			if rotated != 1 || reissued != 31 || len(errs) != 0 {
				f.t.Fatalf("rotated %d, reissued %d, errors %v", rotated, reissued, errs)
			}
			if s, _ := f.s.Session(f.ctx, e.grant.Session.ID); s.Generation != e.grant.Session.Generation+1 {
				f.t.Fatalf("generation %d", s.Generation)
			}
		},
	},
	{
		name: "PolicyExpiryAndAbsoluteCap",
		what: "refresh expiry is exact (expired at the instant), and the sliding expiry never passes the absolute session cap",
		run: func(f *fixture) {
			e := f.service(func(p *auth.Policy) { p.RefreshTTL = time.Hour; p.SessionMaxLifetime = 90 * time.Minute })
			e.clock.add(59 * time.Minute)
			g, err := e.svc.Refresh(f.ctx, e.grant.RefreshToken, "", auth.Meta{})
			if err != nil {
				f.t.Fatal(err)
			}
			if !g.RefreshExpiresAt.Equal(e.grant.Session.AbsoluteExpiresAt) {
				f.t.Fatalf("refresh expiry %v not capped at %v", g.RefreshExpiresAt, e.grant.Session.AbsoluteExpiresAt)
			}
			e.clock.add(31 * time.Minute)
			_, err = e.svc.Refresh(f.ctx, g.RefreshToken, "", auth.Meta{})
			f.wantCode(err, auth.CodeRefreshExpired, auth.CodeSessionExpired)
		},
	},
	{
		name: "PolicyInactiveUser",
		what: "a refresh for a user made inactive fails with user_inactive and revokes the session",
		run: func(f *fixture) {
			e := f.service(nil)
			u, err := f.s.UserByID(f.ctx, e.grant.Session.UserID)
			if err != nil {
				f.t.Fatal(err)
			}
			u.Status = store.UserInactive
			if err := f.s.UpdateUser(f.ctx, u); err != nil {
				f.t.Fatal(err)
			}
			_, err = e.svc.Refresh(f.ctx, e.grant.RefreshToken, "", auth.Meta{})
			f.wantCode(err, auth.CodeUserInactive)
			if s, _ := f.s.Session(f.ctx, e.grant.Session.ID); !s.Revoked() {
				f.t.Fatal("session of an inactive user not revoked")
			}
		},
	},
	{
		name: "PolicyPurgeKeepsLiveSessions",
		what: "purge through the domain deletes expired sessions and leaves live ones refreshable",
		run: func(f *fixture) {
			e := f.service(func(p *auth.Policy) { p.RefreshTTL = time.Hour })
			e.clock.add(2 * time.Hour)
			live, err := e.svc.SignIn(f.ctx, mustEmail(f, e), "password123", auth.Meta{})
			if err != nil {
				f.t.Fatal(err)
			}
			if n, err := e.svc.Purge(f.ctx, 5*time.Second); err != nil || n != 1 {
				f.t.Fatalf("purged %d, %v", n, err)
			}
			if _, err := e.svc.Refresh(f.ctx, live.RefreshToken, "", auth.Meta{}); err != nil {
				f.t.Fatal(err)
			}
		},
	},
}

func mustEmail(f *fixture, e *policyEnv) string {
	u, err := f.s.UserByID(f.ctx, e.grant.Session.UserID)
	if err != nil {
		f.t.Fatal(err)
	}
	return u.Email
}
