package auth_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/auth/authtest"
	"github.com/latchkey-dev/latchkey/store"
)

// socialUsers are bcryptUsers with one more account, mallory's, made by a
// "sign in with …" button: no password, so VerifyPassword refuses it at once
// (bcrypt.CompareHashAndPassword on an empty hash fails without hashing).
type socialUsers struct{ *bcryptUsers }

func (u socialUsers) UserByEmail(ctx context.Context, email string) (store.User, error) {
	if email == "mallory@example.com" {
		return store.User{ID: "u-m", Email: email, Status: store.UserActive}, nil
	}
	return u.bcryptUsers.UserByEmail(ctx, email)
}

// FINDING (not fixed): with the application's own Users and no
// DummyVerifier, the wait for an unknown email is the moving average of
// VerifyPassword's durations, and an attacker can drag that average down:
// failed sign-ins to an account of their own whose check is instant (a
// social-login account without a password; an account the application
// refuses before hashing) are averaged in like any other. Then an unknown
// email answers at once while a known one still takes the application's
// bcrypt, and timing tells which emails exist again. The per-account limit
// (10 failures in 15 minutes) slows it, several accounts of their own do
// not. Latchkey cannot tell a cheap check from a costly one of the same
// Users; the remedy is DummyVerifier, which docs/embedding.md asks for. The
// test compares timings (loosely, as checkTimingBound does), so it runs only
// with LATCHKEY_TEST_TIMING=1.
func TestSignInTimingAverageCanBePoisoned(t *testing.T) {
	if os.Getenv("LATCHKEY_TEST_TIMING") != "1" {
		t.Skip("finding, not fixed: the moving average of VerifyPassword can be dragged down by an account whose check is instant (set LATCHKEY_TEST_TIMING=1 to run)")
	}
	users := socialUsers{newBcryptUsers(t)}
	svc := authtest.Service(t, openSQLite(t), time.Now, func(o *auth.Options) { o.Users = users })
	checkTimingBound(t, svc) // the average learned from ann's checks: the bound holds
	poison := func() {
		for range 16 {
			_, err := svc.SignIn(context.Background(), "mallory@example.com", "anything", auth.Meta{IP: "192.0.2.66"})
			authtest.WantCode(t, err, auth.CodeInvalidCredentials)
		}
	}
	var known, unknown []time.Duration
	for range 5 { // each probe right after a burst of the attacker's own failed sign-ins
		poison()
		known = append(known, signInTimes(t, svc, "ann@example.com", 1)...)
		poison()
		unknown = append(unknown, signInTimes(t, svc, "nobody@example.com", 1)...)
	}
	if k, u := median(known), median(unknown); u < k/2 {
		t.Fatalf("probed right after the attacker's own instant checks, a sign-in takes %v for a known email and %v for an unknown one", k, u)
	}
}
