package auth_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/auth/authtest"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/store"
)

// outage fails the next n calls it guards with a transient error (a backend
// that is down, then back).
type outage struct{ left atomic.Int32 }

func (o *outage) fail() error {
	if o.left.Add(-1) >= 0 {
		return fmt.Errorf("backend down: %w", store.ErrUnavailable)
	}
	return nil
}

// flakyUsers is an application's user backend (here the built-in users of
// the store, reached as the application's own) whose lookups by id fail
// while the outage lasts.
type flakyUsers struct {
	auth.Users
	down *outage
}

func (f flakyUsers) UserByID(ctx context.Context, id string) (auth.User, error) {
	if err := f.down.fail(); err != nil {
		return auth.User{}, err
	}
	return f.Users.UserByID(ctx, id)
}

// A user backend or claims hook that fails for a while, however long
// compared with the reuse interval, costs the client retries of the same
// refresh token, never its session: nothing that can fail runs after the
// rotation commits. Before, the rotation committed and then the check or
// the hook failed (503); the retry, once the interval had passed, was taken
// for a copied token and revoked the session.
func TestRefreshSurvivesBackendOutage(t *testing.T) {
	const failures = 4
	for _, b := range backends {
		for _, which := range []string{"Users", "ClaimsHook"} {
			t.Run(b.name+"/"+which, func(t *testing.T) {
				st, _ := b.open(t)
				clk := testkit.NewClock(t0)
				down := &outage{}
				svc := authtest.Service(t, st, clk.Now, func(o *auth.Options) {
					if which == "Users" {
						o.Users = flakyUsers{Users: auth.StoreUsers(st, o.Hasher), down: down}
					} else {
						o.Claims = func(ctx context.Context, userID string, _ *auth.User) (map[string]any, error) {
							if err := down.fail(); err != nil {
								return nil, err
							}
							return map[string]any{"tenant": "t-" + userID[:4]}, nil
						}
					}
				})
				ctx := t.Context()
				h := password.New(password.Cheap, 1, 1)
				hash, err := h.Hash(ctx, authtest.Password)
				if err != nil {
					t.Fatal(err)
				}
				if err := st.CreateUser(ctx, store.User{ID: "0190f000-0000-7000-8000-00000000000a", Email: "a@example.com",
					PasswordHash: hash, Status: store.UserActive, CreatedAt: t0, UpdatedAt: t0}); err != nil {
					t.Fatal(err)
				}
				g, err := svc.SignIn(ctx, "a@example.com", authtest.Password, auth.Meta{IP: "192.0.2.1"})
				if err != nil {
					t.Fatal(err)
				}

				down.left.Store(failures)
				for i := range failures {
					// Retry-After is seconds; the outage lasts far longer than
					// the reuse interval between retries.
					clk.Advance(3 * auth.DefaultPolicy().ReuseInterval)
					_, err := svc.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
					authtest.WantCode(t, err, auth.CodeUnavailable)
					if s, err := st.Session(ctx, g.Session.ID); err != nil || s.Generation != 1 || s.Revoked() {
						t.Fatalf("after failed attempt %d: session %+v, %v; want generation 1, not revoked", i+1, s, err)
					}
				}
				clk.Advance(3 * auth.DefaultPolicy().ReuseInterval)
				g2, err := svc.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
				if err != nil || g2.Reissued || g2.Session.Generation != 2 {
					t.Fatalf("the same token once the backend is back: %+v, %v; want a rotation to generation 2", g2, err)
				}
				clk.Advance(time.Minute)
				if g3, err := svc.Refresh(ctx, g2.RefreshToken, "", auth.Meta{}); err != nil || g3.Session.Generation != 3 {
					t.Fatalf("the next refresh: %+v, %v", g3, err)
				}
				if which == "ClaimsHook" {
					p, err := svc.Authenticate(ctx, g2.AccessToken)
					if err != nil || p.Claims.Extra["tenant"] != "t-0190" {
						t.Fatalf("claims of the access token: %+v, %v", p.Claims, err)
					}
				}
			})
		}
	}
}

// A server clock that steps back, and instances whose clocks disagree, do
// not invalidate refresh tokens: a token is judged by its MAC, its exp and
// the stored generation, not by an iat that lies in this clock's future.
func TestRefreshAcrossClockSteps(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st, _ := b.open(t)
			ctx := t.Context()

			t.Run("StepBack", func(t *testing.T) {
				e := authtest.New(t, st, nil)
				g := e.SignIn(t, "step@example.com")
				e.Clock.Advance(time.Hour)
				g2 := e.Refresh(t, g.RefreshToken) // iat an hour after sign-in
				e.Clock.Advance(-time.Hour + time.Second)
				g3, err := e.Service.Refresh(ctx, g2.RefreshToken, "", auth.Meta{})
				if err != nil || g3.Session.Generation != 3 {
					t.Fatalf("a token minted an hour ahead of the stepped-back clock: %+v, %v; want it rotated", g3, err)
				}
			})

			t.Run("SkewedInstances", func(t *testing.T) {
				ahead := testkit.NewClock(t0.Add(30 * time.Second))
				behind := testkit.NewClock(t0)
				a := authtest.Service(t, st, ahead.Now, nil)
				slow := authtest.Service(t, st, behind.Now, nil)
				e := &authtest.Env{Service: a, Store: st, Clock: ahead}
				g := e.SignIn(t, "skew@example.com") // iat 30s in the future of the other instance
				g2, err := slow.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
				if err != nil {
					t.Fatalf("instance 30s behind refreshing a token of the one ahead: %v", err)
				}
				if _, err := a.Refresh(ctx, g2.RefreshToken, "", auth.Meta{}); err != nil {
					t.Fatalf("instance ahead refreshing a token of the one behind: %v", err)
				}
			})
		})
	}
}

// After the clock steps back, the rotation stored before the step lies in
// the future. A superseded token is then reuse, not "inside the interval"
// (which would keep reuse detection off for as long as the step), and a
// warning says the clock is behind the database. A rotation stored by an
// instance a little ahead (within auth.MaxClockSkew) still counts as just
// made: two tabs refreshing at once through two instances are not thieves.
func TestReuseAfterClockStepBack(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st, _ := b.open(t)
			ctx := t.Context()
			var logs bytes.Buffer
			clk := testkit.NewClock(t0)
			svc := authtest.Service(t, st, clk.Now, func(o *auth.Options) {
				o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			e := &authtest.Env{Service: svc, Store: st, Clock: clk}

			g := e.SignIn(t, "thief@example.com")
			clk.Advance(time.Hour)
			e.Refresh(t, g.RefreshToken)
			clk.Advance(-time.Hour) // the clock steps back an hour
			_, err := svc.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
			authtest.WantCode(t, err, auth.CodeRefreshReused)
			if !strings.Contains(logs.String(), "ahead of this instance's clock") {
				t.Fatalf("no clock warning logged:\n%s", logs.String())
			}

			clk.Advance(time.Hour)
			g = e.SignIn(t, "tabs@example.com")
			other := testkit.NewClock(clk.Now().Add(auth.MaxClockSkew - time.Second)) // an instance a little ahead
			fast := authtest.Service(t, st, other.Now, nil)
			if _, err := fast.Refresh(ctx, g.RefreshToken, "", auth.Meta{}); err != nil {
				t.Fatal(err)
			}
			g2, err := svc.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
			if err != nil || !g2.Reissued {
				t.Fatalf("the other tab through the instance behind: %+v, %v; want the current generation reissued", g2, err)
			}
		})
	}
}

// A rotation whose outcome the store could not report (store.ErrInDoubt:
// here PostgreSQL applied it but its row could not be read back) is answered
// 503, and the client's retry of the same token, long after the reuse
// interval, is answered with the rotation it made rather than taken for a
// copied token. Only once: a second presentation is reuse again.
func TestInDoubtRotationRetried(t *testing.T) {
	st, url := openPostgres(t)
	e := authtest.New(t, st, nil)
	ctx := t.Context()
	g := e.SignIn(t, "doubt@example.com")
	execPostgres(t, url, `
		ALTER TABLE sessions ALTER COLUMN ip DROP NOT NULL;
		CREATE FUNCTION null_ip() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN NEW.ip := NULL; RETURN NEW; END $$;
		CREATE TRIGGER null_ip BEFORE UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION null_ip()`)
	e.Clock.Advance(time.Minute)
	_, err := e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	authtest.WantCode(t, err, auth.CodeUnavailable)
	if !errors.Is(err, store.ErrInDoubt) {
		t.Fatalf("refresh whose row is unreadable: %v; want it to wrap store.ErrInDoubt", err)
	}
	execPostgres(t, url, `DROP TRIGGER null_ip ON sessions; UPDATE sessions SET ip = '' WHERE ip IS NULL`)

	e.Clock.Advance(10 * auth.DefaultPolicy().ReuseInterval)
	g2, err := e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	if err != nil || !g2.Reissued || g2.Session.Generation != 2 {
		t.Fatalf("the client's retry after the interval: %+v, %v; want generation 2 reissued", g2, err)
	}
	e.Refresh(t, g2.RefreshToken)
	_, err = e.Service.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
	authtest.WantCode(t, err, auth.CodeRefreshReused)
}
