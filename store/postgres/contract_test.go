package postgres_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres"
)

// These single-instance checks of the contract stand in for store/storetest
// until it lands; they then go, except what the suite lacks.

func TestRoundTripIsExact(t *testing.T) {
	db := openDB(t, migratedDB(t), postgres.Options{})
	ctx := context.Background()

	u := activeUser("u1")
	mustCreateUser(t, db, u)
	if got, err := db.UserByEmail(ctx, u.Email); err != nil || got != u {
		t.Fatalf("UserByEmail = %+v, %v; want %+v", got, err, u)
	}
	if err := db.CreateUser(ctx, store.User{ID: "u2", Email: u.Email, Status: store.UserActive}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateUser with a taken email: %v; want ErrConflict", err)
	}
	if _, err := db.UserByID(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UserByID(unknown): %v; want ErrNotFound", err)
	}
	if err := db.UpdateUser(ctx, store.User{ID: "nobody"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateUser(unknown): %v; want ErrNotFound", err)
	}

	// Nanoseconds survive, and the zero RevokedAt stays zero.
	s := newSession("s1", "u1", t0)
	mustCreateSession(t, db, s, 0)
	got, err := db.Session(ctx, "s1")
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("Session = %+v, %v; want %+v", got, err, s)
	}
	if _, err := db.CreateSession(ctx, s, 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateSession with a taken id: %v; want ErrConflict", err)
	}
	if _, err := db.Session(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Session(unknown): %v; want ErrNotFound", err)
	}

	k := store.SigningKey{KID: "k1", Algorithm: "ES256", Private: []byte{1, 2, 3}, CreatedAt: t0}
	if err := db.RotateSigningKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := db.RotateSigningKey(ctx, k); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("RotateSigningKey with a taken kid: %v; want ErrConflict", err)
	}
	keys, err := db.SigningKeys(ctx)
	if err != nil || len(keys) != 1 || !reflect.DeepEqual(keys[0], k) {
		t.Fatalf("SigningKeys = %+v, %v; want [%+v] (a failed rotation must change nothing)", keys, err, k)
	}
}

func TestRotate(t *testing.T) {
	db := openDB(t, migratedDB(t), postgres.Options{})
	ctx := context.Background()
	mustCreateUser(t, db, activeUser("u1"))
	inactive := activeUser("u2")
	inactive.Status = store.UserInactive
	mustCreateUser(t, db, inactive)

	at := t0.Add(time.Hour)
	rotate := func(id string, gen int64, now time.Time, advance bool) (store.Session, error) {
		return db.Rotate(ctx, store.RotateParams{SessionID: id, Generation: gen, Now: now, RefreshTTL: 24 * time.Hour, Advance: advance})
	}

	t.Run("advances and slides", func(t *testing.T) {
		mustCreateSession(t, db, newSession("a", "u1", t0), 0)
		s, err := rotate("a", 0, at, true)
		if err != nil || s.Generation != 1 || !s.LastRefreshedAt.Equal(at) || !s.RefreshExpiresAt.Equal(at.Add(24*time.Hour)) {
			t.Fatalf("Rotate = %+v, %v", s, err)
		}
		if _, err := rotate("a", 0, at, true); !errors.Is(err, store.ErrStale) {
			t.Fatalf("replaying generation 0: %v; want ErrStale", err)
		}
	})
	t.Run("without advance the generation stays", func(t *testing.T) {
		mustCreateSession(t, db, newSession("b", "u1", t0), 0)
		s, err := rotate("b", 0, at, false)
		if err != nil || s.Generation != 0 || !s.LastRefreshedAt.Equal(at) {
			t.Fatalf("Rotate = %+v, %v", s, err)
		}
	})
	t.Run("refresh expiry is capped by the absolute expiry", func(t *testing.T) {
		s := newSession("c", "u1", t0)
		s.AbsoluteExpiresAt = at.Add(time.Minute)
		mustCreateSession(t, db, s, 0)
		got, err := rotate("c", 0, at, true)
		if err != nil || !got.RefreshExpiresAt.Equal(s.AbsoluteExpiresAt) {
			t.Fatalf("Rotate = %+v, %v; want refresh expiry %v", got, err, s.AbsoluteExpiresAt)
		}
	})
	stale := []struct {
		name    string
		session func() store.Session
		now     time.Time
	}{
		{"unknown session", nil, at},
		{"inactive user", func() store.Session { return newSession("d", "u2", t0) }, at},
		{"missing user", func() store.Session { return newSession("e", "ghost", t0) }, at},
		{"revoked", func() store.Session { s := newSession("f", "u1", t0); s.RevokedAt = t0; return s }, at},
		{"refresh expired, exactly at expiry", func() store.Session { return newSession("g", "u1", t0) }, t0.Add(24 * time.Hour)},
		{"absolute expiry passed", func() store.Session {
			s := newSession("h", "u1", t0)
			s.AbsoluteExpiresAt = t0.Add(time.Minute)
			return s
		}, t0.Add(time.Minute)},
	}
	for _, tc := range stale {
		t.Run(tc.name, func(t *testing.T) {
			id := "unknown"
			var before store.Session
			if tc.session != nil {
				before = tc.session()
				id = before.ID
				mustCreateSession(t, db, before, 0)
			}
			if _, err := rotate(id, 0, tc.now, true); !errors.Is(err, store.ErrStale) {
				t.Fatalf("Rotate: %v; want ErrStale", err)
			}
			if tc.session != nil {
				after, err := db.Session(ctx, id)
				if err != nil || !reflect.DeepEqual(after, before) {
					t.Fatalf("a stale Rotate changed the session: %+v, %v; was %+v", after, err, before)
				}
			}
		})
	}
}

func TestSessionsLifecycle(t *testing.T) {
	db := openDB(t, migratedDB(t), postgres.Options{})
	ctx := context.Background()
	mustCreateUser(t, db, activeUser("u1"))
	mustCreateUser(t, db, activeUser("u2"))

	for i, id := range []string{"s1", "s2", "s3"} {
		mustCreateSession(t, db, newSession(id, "u1", t0.Add(time.Duration(i)*time.Minute)), 0)
	}
	mustCreateSession(t, db, newSession("other", "u2", t0), 0)

	// At the limit of 3, a fourth sign-in evicts the least recently refreshed.
	evicted := mustCreateSession(t, db, newSession("s4", "u1", t0.Add(3*time.Minute)), 3)
	if !reflect.DeepEqual(evicted, []string{"s1"}) {
		t.Fatalf("evicted %v; want [s1]", evicted)
	}
	live, err := db.ListSessions(ctx, "u1", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if ids := sessionIDs(live); !reflect.DeepEqual(ids, []string{"s4", "s3", "s2"}) {
		t.Fatalf("ListSessions = %v; want most recently refreshed first [s4 s3 s2]", ids)
	}
	all, err := db.ListSessions(ctx, "", t0.Add(time.Hour))
	if err != nil || len(all) != 4 {
		t.Fatalf("ListSessions(all users) = %v, %v; want 4", sessionIDs(all), err)
	}

	n, err := db.RevokeSessions(ctx, store.RevokeParams{UserID: "u1", ExceptSessionID: "s4", Reason: "signed_out", Now: t0.Add(time.Hour)})
	if err != nil || n != 2 {
		t.Fatalf("RevokeSessions(others) = %d, %v; want 2", n, err)
	}
	if n, err := db.RevokeSessions(ctx, store.RevokeParams{SessionID: "s2", Reason: "again", Now: t0.Add(2 * time.Hour)}); err != nil || n != 0 {
		t.Fatalf("revoking a revoked session = %d, %v; want 0", n, err)
	}
	if s, _ := db.Session(ctx, "s2"); s.RevokeReason != "signed_out" || !s.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("revoking twice overwrote the first revocation: %+v", s)
	}

	// Purge: s1 (revoked at t0+3m), s2 and s3 (revoked at t0+1h) go when
	// olderThan is past their revocation; s4 and other stay until they expire.
	deleted, err := db.Purge(ctx, t0.Add(time.Hour+1), time.Time{})
	if err != nil || deleted != 3 {
		t.Fatalf("Purge = %d, %v; want 3", deleted, err)
	}
	if _, err := db.Session(ctx, "s4"); err != nil {
		t.Fatalf("Purge deleted a live session: %v", err)
	}
	deleted, err = db.Purge(ctx, t0.Add(25*time.Hour), time.Time{})
	if err != nil || deleted != 2 {
		t.Fatalf("Purge after expiry = %d, %v; want 2", deleted, err)
	}
}

func sessionIDs(ss []store.Session) []string {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}
