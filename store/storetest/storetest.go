package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// Run runs every conformance case as a subtest of t, each against a new store
// from newStore. newStore should register the store's cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	groups := [][]testCase{userCases, sessionCases, rotateCases, dpopCases, revokeCases, purgeCases, keyCases, deactivateCases}
	for _, group := range groups {
		for _, c := range group {
			t.Run(c.name, func(t *testing.T) {
				t.Cleanup(func() {
					if t.Failed() {
						t.Logf("this case checks that %s", c.what)
					}
				})
				c.run(&fixture{t: t, ctx: t.Context(), s: newStore(t)})
			})
		}
	}
}

// testCase is one entry of the suite: what it checks, in a sentence, and the
// check.
type testCase struct {
	name string
	what string
	run  func(f *fixture)
}

// base is the suite's "now" at the start of every case. The microseconds make
// a backend that drops sub-second precision fail.
var base = time.Date(2026, 1, 1, 0, 0, 0, 123456000, time.UTC)

// at returns base plus d, the way every case names its instants.
func at(d time.Duration) time.Time { return base.Add(d) }

const (
	refreshTTL  = 24 * time.Hour
	maxLifetime = 30 * 24 * time.Hour
)

// fixture carries one case's store and the helpers that build records in it.
type fixture struct {
	t   *testing.T
	ctx context.Context
	s   store.Store
}

// newID returns a random UUID (version 4), the shape Latchkey's ids have, so
// backends with a UUID column type accept it.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// user creates an active user with a unique email, created at base.
func (f *fixture) user(mods ...func(*store.User)) store.User {
	f.t.Helper()
	id := newID()
	u := store.User{
		ID:           id,
		Email:        "user-" + id[:8] + "@example.com",
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		Status:       store.UserActive,
		CreatedAt:    base,
		UpdatedAt:    base,
	}
	for _, m := range mods {
		m(&u)
	}
	if err := f.s.CreateUser(f.ctx, u); err != nil {
		f.t.Fatalf("CreateUser(%s): %v", u.Email, err)
	}
	return u
}

// session creates a live session of userID, created and last refreshed at
// base, at generation 0, with no session limit.
func (f *fixture) session(userID string, mods ...func(*store.Session)) store.Session {
	f.t.Helper()
	s := store.Session{
		ID:                newID(),
		UserID:            userID,
		CreatedAt:         base,
		LastRefreshedAt:   base,
		RefreshExpiresAt:  base.Add(refreshTTL),
		AbsoluteExpiresAt: base.Add(maxLifetime),
		ClientID:          "web",
		UserAgent:         "storetest/1.0",
		IP:                "192.0.2.1",
	}
	for _, m := range mods {
		m(&s)
	}
	evicted, err := f.s.CreateSession(f.ctx, s, 0)
	if err != nil {
		f.t.Fatalf("CreateSession: %v", err)
	}
	if len(evicted) != 0 {
		f.t.Fatalf("CreateSession with no limit evicted %v", evicted)
	}
	return s
}

// refreshedAt sets a session's creation and last refresh time to t, its
// refresh expiry to t+refreshTTL, and leaves the absolute expiry far out.
func refreshedAt(t time.Time) func(*store.Session) {
	return func(s *store.Session) {
		s.CreatedAt, s.LastRefreshedAt, s.RefreshExpiresAt = t, t, t.Add(refreshTTL)
	}
}

// get reads a session that must exist.
func (f *fixture) get(id string) store.Session {
	f.t.Helper()
	s, err := f.s.Session(f.ctx, id)
	if err != nil {
		f.t.Fatalf("Session(%s): %v", id, err)
	}
	return s
}

// unchanged fails unless the stored session still equals want.
func (f *fixture) unchanged(want store.Session) {
	f.t.Helper()
	f.sameSession("stored session", f.get(want.ID), want)
}

// rotate calls Rotate and fails the case on any error.
func (f *fixture) rotate(p store.RotateParams) store.Session {
	f.t.Helper()
	s, err := f.s.Rotate(f.ctx, p)
	if err != nil {
		f.t.Fatalf("Rotate(gen %d at %s): %v", p.Generation, p.Now, err)
	}
	return s
}

// stale fails unless Rotate(p) returns ErrStale.
func (f *fixture) stale(p store.RotateParams) {
	f.t.Helper()
	if s, err := f.s.Rotate(f.ctx, p); !errors.Is(err, store.ErrStale) {
		f.t.Fatalf("Rotate(gen %d at %s) = %+v, %v; want ErrStale", p.Generation, p.Now, s, err)
	}
}

// wantErr fails unless err is target.
func (f *fixture) wantErr(what string, err, target error) {
	f.t.Helper()
	if !errors.Is(err, target) {
		f.t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// sameTime reports a difference between two times: a different instant, or
// a non-zero time not in UTC.
func sameTime(field string, got, want time.Time) []string {
	var d []string
	if !got.Equal(want) {
		d = append(d, fmt.Sprintf("%s = %s, want %s", field, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano)))
	}
	if !got.IsZero() && got.Location() != time.UTC {
		d = append(d, fmt.Sprintf("%s is in %s, want UTC", field, got.Location()))
	}
	return d
}

func (f *fixture) report(what string, diffs []string) {
	f.t.Helper()
	for _, d := range diffs {
		f.t.Errorf("%s: %s", what, d)
	}
}

func field[T comparable](name string, got, want T) []string {
	if got != want {
		return []string{fmt.Sprintf("%s = %v, want %v", name, got, want)}
	}
	return nil
}

func (f *fixture) sameSession(what string, got, want store.Session) {
	f.t.Helper()
	f.report(what, slices.Concat(
		field("ID", got.ID, want.ID),
		field("UserID", got.UserID, want.UserID),
		field("Generation", got.Generation, want.Generation),
		sameTime("CreatedAt", got.CreatedAt, want.CreatedAt),
		sameTime("LastRefreshedAt", got.LastRefreshedAt, want.LastRefreshedAt),
		sameTime("RefreshExpiresAt", got.RefreshExpiresAt, want.RefreshExpiresAt),
		sameTime("AbsoluteExpiresAt", got.AbsoluteExpiresAt, want.AbsoluteExpiresAt),
		sameTime("RevokedAt", got.RevokedAt, want.RevokedAt),
		field("RevokeReason", got.RevokeReason, want.RevokeReason),
		field("ClientID", got.ClientID, want.ClientID),
		field("UserAgent", got.UserAgent, want.UserAgent),
		field("IP", got.IP, want.IP),
		field("JKT", got.JKT, want.JKT),
	))
}

func (f *fixture) sameUser(what string, got, want store.User) {
	f.t.Helper()
	f.report(what, slices.Concat(
		field("ID", got.ID, want.ID),
		field("Email", got.Email, want.Email),
		field("PasswordHash", got.PasswordHash, want.PasswordHash),
		field("Status", got.Status, want.Status),
		sameTime("CreatedAt", got.CreatedAt, want.CreatedAt),
		sameTime("UpdatedAt", got.UpdatedAt, want.UpdatedAt),
		field("EmailUnverified", got.EmailUnverified, want.EmailUnverified),
		sameTime("EmailVerifiedAt", got.EmailVerifiedAt, want.EmailVerifiedAt),
	))
}

func (f *fixture) sameKey(what string, got, want store.SigningKey) {
	f.t.Helper()
	f.report(what, slices.Concat(
		field("KID", got.KID, want.KID),
		field("Algorithm", got.Algorithm, want.Algorithm),
		field("Private", string(got.Private), string(want.Private)),
		sameTime("CreatedAt", got.CreatedAt, want.CreatedAt),
		sameTime("RetiredAt", got.RetiredAt, want.RetiredAt),
	))
}

// ids returns the ids of sessions, in order.
func ids(list []store.Session) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.ID
	}
	return out
}

// sameIDs fails unless got and want hold the same ids in the same order.
func (f *fixture) sameIDs(what string, got, want []string) {
	f.t.Helper()
	if !slices.Equal(got, want) {
		f.t.Errorf("%s = %q, want %q", what, got, want)
	}
}
