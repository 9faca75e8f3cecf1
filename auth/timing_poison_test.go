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

// With the application's own Users and no DummyVerifier, the wait for an
// unknown email is learnt from VerifyPassword's durations. An attacker with
// an account of their own whose check is instant (a social-login account
// without a password; an account the application refuses before hashing)
// makes failed sign-ins to it at will; were they averaged in, a burst of them
// would drag the wait down, and then an unknown email would answer at once
// while a known one still takes the application's bcrypt. Only successful
// checks are learnt from, so the bursts change nothing (the deterministic
// check of that rule is TestFailedChecksDoNotTeachTheWait). This test
// compares timings (loosely, as checkTimingBound does), so it runs only with
// LATCHKEY_TEST_TIMING=1.
func TestSignInTimingAverageNotPoisoned(t *testing.T) {
	if os.Getenv("LATCHKEY_TEST_TIMING") != "1" {
		t.Skip("timing comparison: set LATCHKEY_TEST_TIMING=1 to run")
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
