// Package userstest is the conformance suite for auth.Users: the built-in
// users and an application's own users table pass the same cases, both as a
// lookup/verification contract and through the domain (sign-in, refresh,
// deactivation).
package userstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/auth/authtest"
	"github.com/latchkey-dev/latchkey/store"
)

// Fixture is one implementation under test, fresh for each case.
type Fixture struct {
	// Users is the implementation under test.
	Users auth.Users
	// Store keeps sessions and keys (its users table is not used unless
	// Users is the built-in one).
	Store store.Store
	// Add creates a user in the implementation's own table and returns it.
	Add func(t *testing.T, email, password string, active bool) store.User
	// SetActive changes a user's status in the implementation's table.
	SetActive func(t *testing.T, id string, active bool)
	// Builtin is true when Users are the Store's own users (auth.StoreUsers).
	Builtin bool
}

// Run runs every case against fresh fixtures from newFixture.
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("this case checks that %s", c.what)
				}
			})
			c.run(t, newFixture(t))
		})
	}
}

type testCase struct {
	name, what string
	run        func(t *testing.T, f Fixture)
}

var cases = []testCase{
	{
		name: "LookUpByEmailAndID",
		what: "a user is found by its normalised email and by its id, with its status",
		run: func(t *testing.T, f Fixture) {
			ctx := context.Background()
			u := f.Add(t, "ann@example.com", "password123", true)
			byEmail, err := f.Users.UserByEmail(ctx, "ann@example.com")
			if err != nil || byEmail.ID != u.ID || byEmail.Status != store.UserActive {
				t.Fatalf("UserByEmail = %+v, %v", byEmail, err)
			}
			byID, err := f.Users.UserByID(ctx, u.ID)
			if err != nil || byID.Email != "ann@example.com" {
				t.Fatalf("UserByID = %+v, %v", byID, err)
			}
		},
	},
	{
		name: "UnknownIsNotFound",
		what: "unknown emails and ids return an error wrapping store.ErrNotFound",
		run: func(t *testing.T, f Fixture) {
			ctx := context.Background()
			if _, err := f.Users.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("UserByEmail(unknown) = %v", err)
			}
			if _, err := f.Users.UserByID(ctx, "0190f000-0000-7000-8000-000000000000"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("UserByID(unknown) = %v", err)
			}
		},
	},
	{
		name: "VerifyPassword",
		what: "the right password verifies and a wrong one does not, without an error",
		run: func(t *testing.T, f Fixture) {
			ctx := context.Background()
			u := f.Add(t, "ann@example.com", "password123", true)
			if ok, err := f.Users.VerifyPassword(ctx, u, "password123"); !ok || err != nil {
				t.Fatalf("right password: %v %v", ok, err)
			}
			if ok, err := f.Users.VerifyPassword(ctx, u, "password124"); ok || err != nil {
				t.Fatalf("wrong password: %v %v", ok, err)
			}
		},
	},
	{
		name: "InactiveStatus",
		what: "an inactive user is reported with status inactive",
		run: func(t *testing.T, f Fixture) {
			u := f.Add(t, "ann@example.com", "password123", false)
			got, err := f.Users.UserByID(context.Background(), u.ID)
			if err != nil || got.Status != store.UserInactive {
				t.Fatalf("inactive user = %+v, %v", got, err)
			}
		},
	},
	{
		name: "DomainSignInRefreshDeactivate",
		what: "through the domain: sign-in and refresh work, and a user deactivated in the users table can no longer refresh and loses the session",
		run: func(t *testing.T, f Fixture) {
			ctx := context.Background()
			svc := service(t, f)
			u := f.Add(t, "ann@example.com", "password123", true)
			if _, err := svc.SignIn(ctx, "ann@example.com", "wrong-password", auth.Meta{}); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
				t.Fatalf("wrong password: %v", err)
			}
			if _, err := svc.SignIn(ctx, "nobody@example.com", "password123", auth.Meta{}); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
				t.Fatalf("unknown email: %v", err)
			}
			g, err := svc.SignIn(ctx, " ANN@example.com", "password123", auth.Meta{})
			if err != nil || g.Session.UserID != u.ID {
				t.Fatalf("sign-in: %+v %v", g, err)
			}
			g2, err := svc.Refresh(ctx, g.RefreshToken, "", auth.Meta{})
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			f.SetActive(t, u.ID, false)
			_, err = svc.Refresh(ctx, g2.RefreshToken, "", auth.Meta{})
			if c := auth.ErrorCode(err); c != auth.CodeUserInactive {
				t.Fatalf("refresh of a deactivated user: %v", err)
			}
			if s, _ := f.Store.Session(ctx, g.Session.ID); !s.Revoked() {
				t.Fatal("the session of a deactivated user is still live")
			}
			if _, err := svc.SignIn(ctx, "ann@example.com", "password123", auth.Meta{}); auth.ErrorCode(err) != auth.CodeUserInactive {
				t.Fatalf("sign-in of a deactivated user: %v", err)
			}
		},
	},
}

// service builds an auth.Service over the fixture.
func service(t *testing.T, f Fixture) *auth.Service {
	t.Helper()
	now := func() time.Time { return time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC) }
	return authtest.Service(t, f.Store, now, func(o *auth.Options) {
		if !f.Builtin {
			o.Users = f.Users
		}
	})
}
