package auth_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/auth/authtest"
	"github.com/latchkey-dev/latchkey/store"
)

// bcryptCost makes the application's hashes far costlier than the tests'
// argon2id (password.Cheap), as bcrypt cost 12 is ten times the production
// argon2id: the gap the timing check must not show.
const bcryptCost = 7

// bcryptUsers are an application's own users with bcrypt hashes; they count
// the password checks.
type bcryptUsers struct {
	byEmail  map[string]store.User
	verifies atomic.Int32
}

func newBcryptUsers(t *testing.T) *bcryptUsers {
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	return &bcryptUsers{byEmail: map[string]store.User{
		"ann@example.com": {ID: "u-1", Email: "ann@example.com", PasswordHash: string(hash), Status: store.UserActive}}}
}

func (u *bcryptUsers) UserByEmail(_ context.Context, email string) (store.User, error) {
	if usr, ok := u.byEmail[email]; ok {
		return usr, nil
	}
	return store.User{}, store.ErrNotFound
}

func (u *bcryptUsers) UserByID(_ context.Context, id string) (store.User, error) {
	for _, usr := range u.byEmail {
		if usr.ID == id {
			return usr, nil
		}
	}
	return store.User{}, store.ErrNotFound
}

func (u *bcryptUsers) VerifyPassword(_ context.Context, usr store.User, pw string) (bool, error) {
	u.verifies.Add(1)
	return bcrypt.CompareHashAndPassword([]byte(usr.PasswordHash), []byte(pw)) == nil, nil
}

// dummyBcryptUsers also implement auth.DummyVerifier with a bcrypt hash of
// the same cost.
type dummyBcryptUsers struct {
	*bcryptUsers
	dummy   []byte
	dummies atomic.Int32
}

func (u *dummyBcryptUsers) VerifyDummy(_ context.Context, pw string) error {
	u.dummies.Add(1)
	_ = bcrypt.CompareHashAndPassword(u.dummy, []byte(pw))
	return nil
}

// signInTimes measures n sign-ins of email with a wrong password.
func signInTimes(t *testing.T, svc *auth.Service, email string, n int) []time.Duration {
	t.Helper()
	var out []time.Duration
	for range n {
		start := time.Now()
		_, err := svc.SignIn(context.Background(), email, "wrong password", auth.Meta{IP: "192.0.2.1"})
		out = append(out, time.Since(start))
		authtest.WantCode(t, err, auth.CodeInvalidCredentials)
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// checkTimingBound fails unless a sign-in for an unknown email takes about
// as long as one for a known email with a wrong password. The bound is
// loose (half), so a noisy machine cannot fail it; what it catches is the
// order of magnitude between the application's bcrypt and a cheap dummy
// hash.
func checkTimingBound(t *testing.T, svc *auth.Service) {
	t.Helper()
	signInTimes(t, svc, "ann@example.com", 3) // what a real check costs is learned from these
	var known, unknown []time.Duration
	for range 5 {
		known = append(known, signInTimes(t, svc, "ann@example.com", 1)...)
		unknown = append(unknown, signInTimes(t, svc, "nobody@example.com", 1)...)
	}
	if k, u := median(known), median(unknown); u < k/2 {
		t.Fatalf("a sign-in takes %v for a known email and %v for an unknown one: timing tells which emails exist", k, u)
	}
}

// slowUsers are bcryptUsers whose password check takes at least checkTime
// of real time, as an application's remote or costly check would.
type slowUsers struct{ *bcryptUsers }

const checkTime = 40 * time.Millisecond

func (u slowUsers) VerifyPassword(ctx context.Context, usr store.User, pw string) (bool, error) {
	time.Sleep(checkTime) // the application's check, not the test waiting for time to pass
	return u.bcryptUsers.VerifyPassword(ctx, usr, pw)
}

// With the application's own Users and no VerifyDummy, an unknown email
// takes as long as the application's password check (Latchkey waits the
// check's moving average), not as long as Latchkey's own cheap dummy hash.
// Every check here takes at least checkTime, so their average does, and a
// timer never fires early: an unknown email's sign-in must take at least
// that long. The bound is one-sided, so a loaded machine (which only makes
// things slower) cannot fail it; without the wait, the unknown email costs
// a cheap test-parameter argon2id, a fraction of checkTime.
func TestSignInTimingWithApplicationUsers(t *testing.T) {
	users := slowUsers{newBcryptUsers(t)}
	svc := authtest.Service(t, openSQLite(t), time.Now, func(o *auth.Options) { o.Users = users })
	signInTimes(t, svc, "ann@example.com", 3) // what a real check costs is learned from these
	for i, d := range signInTimes(t, svc, "nobody@example.com", 5) {
		if d < checkTime {
			t.Fatalf("unknown email, sign-in %d: %v, less than every password check (≥ %v): timing tells which emails exist", i, d, checkTime)
		}
	}
	if v := users.verifies.Load(); v != 3 {
		t.Fatalf("%d VerifyPassword calls; want 3 (none for the unknown email)", v)
	}
}

// With a DummyVerifier, an unknown email does the application's own dummy
// check: the same work, once, and no VerifyPassword (counted, not timed).
func TestSignInDummyVerifier(t *testing.T) {
	dummy, err := bcrypt.GenerateFromPassword([]byte("no one's password"), bcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	users := &dummyBcryptUsers{bcryptUsers: newBcryptUsers(t), dummy: dummy}
	svc := authtest.Service(t, openSQLite(t), time.Now, func(o *auth.Options) { o.Users = users })
	signInTimes(t, svc, "nobody@example.com", 3)
	if d, v := users.dummies.Load(), users.verifies.Load(); d != 3 || v != 0 {
		t.Fatalf("three sign-ins of an unknown email: %d VerifyDummy and %d VerifyPassword calls; want 3 and 0", d, v)
	}
	signInTimes(t, svc, "ann@example.com", 2)
	if d, v := users.dummies.Load(), users.verifies.Load(); d != 3 || v != 2 {
		t.Fatalf("then two of a known one: %d VerifyDummy and %d VerifyPassword calls; want 3 and 2", d, v)
	}
}

// A VerifyDummy that fails (the application's hashing saturated) fails the
// sign-in as VerifyPassword's failure would, not as wrong credentials.
func TestSignInDummyVerifierError(t *testing.T) {
	users := &failingDummy{bcryptUsers: newBcryptUsers(t)}
	svc := authtest.Service(t, openSQLite(t), time.Now, func(o *auth.Options) { o.Users = users })
	_, err := svc.SignIn(context.Background(), "nobody@example.com", "pw", auth.Meta{})
	authtest.WantCode(t, err, auth.CodeUnavailable)
}

type failingDummy struct{ *bcryptUsers }

func (failingDummy) VerifyDummy(context.Context, string) error {
	return errors.Join(errors.New("hashing pool full"), store.ErrUnavailable)
}
