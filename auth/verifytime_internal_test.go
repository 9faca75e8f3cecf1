package auth

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// instantUsers are an application's Users whose every check answers at once,
// ok or not (an account without a password, a check refused before hashing).
type instantUsers struct{ ok bool }

func (instantUsers) UserByEmail(context.Context, string) (User, error) {
	return User{}, store.ErrNotFound
}
func (instantUsers) UserByID(context.Context, string) (User, error) { return User{}, store.ErrNotFound }
func (u instantUsers) VerifyPassword(context.Context, User, string) (bool, error) {
	return u.ok, nil
}

// The wait for an unknown email (Users without VerifyDummy) is never lowered
// by failed checks, which an attacker makes at will and which may be
// instant: 64 of them leave it exactly as it was; a successful one, a real
// check's whole work, moves it either way. Deterministic: it compares the
// learnt value, not durations.
func TestFailedChecksDoNotTeachTheWait(t *testing.T) {
	const learnt = int64(40 * time.Millisecond)
	s := &Service{users: instantUsers{ok: false}}
	s.verifyTime.Store(learnt)
	for range 64 {
		if ok, _, err := s.checkPassword(context.Background(), User{ID: "u-m"}, "anything"); ok || err != nil {
			t.Fatalf("checkPassword: %v, %v", ok, err)
		}
	}
	if got := s.verifyTime.Load(); got != learnt {
		t.Fatalf("64 instant failed checks moved the learnt wait from %v to %v", time.Duration(learnt), time.Duration(got))
	}
	s.users = instantUsers{ok: true}
	if ok, _, err := s.checkPassword(context.Background(), User{ID: "u-1"}, "right"); !ok || err != nil {
		t.Fatalf("checkPassword: %v, %v", ok, err)
	}
	if got := s.verifyTime.Load(); got >= learnt {
		t.Fatalf("an instant successful check left the learnt wait at %v (was %v)", time.Duration(got), time.Duration(learnt))
	}
}
