// Package authtest runs the real auth.Service over a store backend, for the
// tests of the domain and for the refresh-policy suite every backend passes.
//
// The refresh policy (the reuse interval, family revocation, exact expiry
// under the absolute cap, inactive users, double spending, purge) is decided
// by auth from what the store's Rotate and Session return, so a backend
// must support the policy, not only the primitives store/storetest checks.
// RunPolicy checks that with the domain on top:
//
//	func TestPolicySQLite(t *testing.T) {
//		authtest.RunPolicy(t, func(t *testing.T) store.Store { ... })
//	}
package authtest

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

// Epoch is the time every Env's clock starts at.
var Epoch = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

// Env is a Service over a migrated store, with a clock that only the test
// moves and cheap password hashing.
type Env struct {
	Service *auth.Service
	Store   store.Store
	Clock   *testkit.Clock
}

// New returns an Env over st with auth.DefaultPolicy() changed by mod (may be
// nil).
func New(t testing.TB, st store.Store, mod func(*auth.Policy)) *Env {
	t.Helper()
	clk := testkit.NewClock(Epoch)
	svc := Service(t, st, clk.Now, func(o *auth.Options) {
		if mod != nil {
			mod(&o.Policy)
		}
	})
	return &Env{Service: svc, Store: st, Clock: clk}
}

// Service returns a Service over st with the clock now, cheap password
// hashing, auth.DefaultPolicy() and no log, after mod (may be nil) has changed
// those options. It loads (or makes) an ES256 signing key in st.
func Service(t testing.TB, st store.Store, now func() time.Time, mod func(*auth.Options)) *auth.Service {
	t.Helper()
	iss, err := token.NewIssuer(token.Options{Issuer: "http://authtest", Audience: "latchkey",
		RefreshSecret: []byte(strings.Repeat("k", 32)), Leeway: 5 * time.Second, PublishRetiredFor: time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.LoadKeys(t.Context(), st, token.ES256, nil); err != nil {
		t.Fatal(err)
	}
	o := auth.Options{Store: st, Tokens: iss, Hasher: password.New(password.Cheap, 4, 64), Policy: auth.DefaultPolicy(),
		Now: now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&o)
	}
	return auth.New(o)
}

// Password is the password of every user SignIn creates.
const Password = "password123"

// SignIn signs email in with Password, signing it up first if it is new.
func (e *Env) SignIn(t testing.TB, email string) *auth.Grant {
	t.Helper()
	if _, err := e.Service.SignUp(t.Context(), email, Password); err != nil && auth.ErrorCode(err) != auth.CodeEmailTaken {
		t.Fatal(err)
	}
	g, err := e.Service.SignIn(t.Context(), email, Password, auth.Meta{IP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Refresh refreshes with tok and fails the test on any error.
func (e *Env) Refresh(t testing.TB, tok string) *auth.Grant {
	t.Helper()
	g, err := e.Service.Refresh(t.Context(), tok, "", auth.Meta{})
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	return g
}

// WantCode fails the test unless err is a domain error with one of the
// codes want.
func WantCode(t testing.TB, err error, want ...auth.Code) {
	t.Helper()
	got := auth.ErrorCode(err)
	for _, w := range want {
		if got == w {
			return
		}
	}
	t.Fatalf("error = %v (code %q), want code %v", err, got, want)
}
