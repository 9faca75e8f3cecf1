package storetest

import (
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// revoke calls RevokeSessions and fails unless it revoked want sessions.
func (f *fixture) revoke(p store.RevokeParams, want int) {
	f.t.Helper()
	n, err := f.s.RevokeSessions(f.ctx, p)
	if err != nil {
		f.t.Fatalf("RevokeSessions(%+v): %v", p, err)
	}
	if n != want {
		f.t.Errorf("RevokeSessions(%+v) revoked %d, want %d", p, n, want)
	}
}

// revokedAt returns s as revoked at t for reason.
func revokedAt(s store.Session, t time.Time, reason string) store.Session {
	s.RevokedAt, s.RevokeReason = t, reason
	return s
}

var revokeCases = []testCase{
	{
		name: "Revoke/BySession",
		what: "revoking by session id sets RevokedAt and RevokeReason on that session only",
		run: func(f *fixture) {
			u := f.user()
			s, other := f.session(u.ID), f.session(u.ID)
			now := at(time.Hour)
			f.revoke(store.RevokeParams{SessionID: s.ID, Reason: "sign_out", Now: now}, 1)
			f.unchanged(revokedAt(s, now, "sign_out"))
			f.unchanged(other)
		},
	},
	{
		name: "Revoke/ByUser",
		what: "revoking by user id revokes every session of that user and none of another user's",
		run: func(f *fixture) {
			u, other := f.user(), f.user()
			a, b := f.session(u.ID), f.session(u.ID)
			theirs := f.session(other.ID)
			now := at(time.Hour)
			f.revoke(store.RevokeParams{UserID: u.ID, Reason: "user_inactive", Now: now}, 2)
			f.unchanged(revokedAt(a, now, "user_inactive"))
			f.unchanged(revokedAt(b, now, "user_inactive"))
			f.unchanged(theirs)
		},
	},
	{
		name: "Revoke/ByUserExceptOne",
		what: "revoking by user id with ExceptSessionID (sign out others) spares that session",
		run: func(f *fixture) {
			u := f.user()
			keep, a, b := f.session(u.ID), f.session(u.ID), f.session(u.ID)
			now := at(time.Hour)
			f.revoke(store.RevokeParams{UserID: u.ID, ExceptSessionID: keep.ID, Reason: "sign_out_others", Now: now}, 2)
			f.unchanged(keep)
			f.unchanged(revokedAt(a, now, "sign_out_others"))
			f.unchanged(revokedAt(b, now, "sign_out_others"))
		},
	},
	{
		name: "Revoke/Twice",
		what: "revoking an already revoked session counts 0 and keeps the first revocation's time and reason, by session id and by user",
		run: func(f *fixture) {
			u := f.user()
			s, later := f.session(u.ID), f.session(u.ID)
			first := at(time.Hour)
			f.revoke(store.RevokeParams{SessionID: s.ID, Reason: "sign_out", Now: first}, 1)
			f.revoke(store.RevokeParams{SessionID: s.ID, Reason: "refresh_token_reused", Now: at(2 * time.Hour)}, 0)
			f.revoke(store.RevokeParams{UserID: u.ID, Reason: "user_inactive", Now: at(3 * time.Hour)}, 1)
			f.unchanged(revokedAt(s, first, "sign_out"))
			f.unchanged(revokedAt(later, at(3*time.Hour), "user_inactive"))
		},
	},
	{
		name: "Revoke/Unknown",
		what: "revoking an unknown session or a user without sessions is not an error and counts 0",
		run: func(f *fixture) {
			s := f.session(f.user().ID)
			f.revoke(store.RevokeParams{SessionID: newID(), Reason: "sign_out", Now: at(time.Hour)}, 0)
			f.revoke(store.RevokeParams{UserID: newID(), Reason: "sign_out", Now: at(time.Hour)}, 0)
			f.unchanged(s)
		},
	},
	{
		name: "Revoke/NoSelector",
		what: "RevokeSessions with neither a session id nor a user id is an error and revokes nothing (it must never mean everyone)",
		run: func(f *fixture) {
			s := f.session(f.user().ID)
			n, err := f.s.RevokeSessions(f.ctx, store.RevokeParams{Reason: "sign_out", Now: at(time.Hour)})
			if err == nil || n != 0 {
				f.t.Errorf("RevokeSessions without a selector = %d, %v; want 0 and an error", n, err)
			}
			f.unchanged(s)
		},
	},
}
