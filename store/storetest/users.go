package storetest

import (
	"errors"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

var userCases = []testCase{
	{
		name: "User/RoundTrip",
		what: "a created user reads back field for field by id and by email (e-mail verification state included), with times exact and in UTC even when given in another zone",
		run: func(f *fixture) {
			zone := time.FixedZone("UTC+5:30", 5*3600+1800)
			u := f.user(func(u *store.User) {
				u.CreatedAt = at(time.Microsecond).In(zone)
				u.UpdatedAt = at(time.Hour + 7*time.Microsecond).In(zone)
			})
			unverified := f.user(func(u *store.User) { u.EmailUnverified = true })
			verified := f.user(func(u *store.User) { u.EmailVerifiedAt = at(3 * time.Microsecond).In(zone) })
			for _, w := range []store.User{unverified, verified} {
				got, err := f.s.UserByID(f.ctx, w.ID)
				if err != nil {
					f.t.Fatalf("UserByID: %v", err)
				}
				f.sameUser("UserByID", got, w)
			}
			byID, err := f.s.UserByID(f.ctx, u.ID)
			if err != nil {
				f.t.Fatalf("UserByID: %v", err)
			}
			f.sameUser("UserByID", byID, u)
			byEmail, err := f.s.UserByEmail(f.ctx, u.Email)
			if err != nil {
				f.t.Fatalf("UserByEmail: %v", err)
			}
			f.sameUser("UserByEmail", byEmail, u)
		},
	},
	{
		name: "User/DuplicateEmail",
		what: "a second user with a taken email is refused with ErrConflict and the first user keeps the email",
		run: func(f *fixture) {
			first := f.user()
			err := f.s.CreateUser(f.ctx, store.User{
				ID: newID(), Email: first.Email, PasswordHash: "x",
				Status: store.UserActive, CreatedAt: base, UpdatedAt: base,
			})
			f.wantErr("CreateUser with a taken email", err, store.ErrConflict)
			got, err := f.s.UserByEmail(f.ctx, first.Email)
			if err != nil {
				f.t.Fatalf("UserByEmail: %v", err)
			}
			f.sameUser("first user", got, first)
		},
	},
	{
		name: "User/NotFound",
		what: "looking up an unknown id or email returns ErrNotFound",
		run: func(f *fixture) {
			f.user()
			_, err := f.s.UserByID(f.ctx, newID())
			f.wantErr("UserByID(unknown)", err, store.ErrNotFound)
			_, err = f.s.UserByEmail(f.ctx, "nobody@example.com")
			f.wantErr("UserByEmail(unknown)", err, store.ErrNotFound)
		},
	},
	{
		name: "User/Update",
		what: "UpdateUser writes Status, PasswordHash and UpdatedAt, and leaves Email and CreatedAt as they were",
		run: func(f *fixture) {
			u := f.user()
			want := u
			want.Status = store.UserInactive
			want.PasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA"
			want.UpdatedAt = at(2 * time.Hour)
			upd := want
			upd.Email = "changed@example.com"
			upd.CreatedAt = at(time.Hour)
			if err := f.s.UpdateUser(f.ctx, upd); err != nil {
				f.t.Fatalf("UpdateUser: %v", err)
			}
			got, err := f.s.UserByID(f.ctx, u.ID)
			if err != nil {
				f.t.Fatalf("UserByID: %v", err)
			}
			f.sameUser("updated user", got, want)
			if _, err := f.s.UserByEmail(f.ctx, upd.Email); !errors.Is(err, store.ErrNotFound) {
				f.t.Errorf("UserByEmail(%s) after UpdateUser: error %v, want ErrNotFound", upd.Email, err)
			}
		},
	},
	{
		name: "User/UpdateNotFound",
		what: "updating an unknown user returns ErrNotFound and creates nobody",
		run: func(f *fixture) {
			err := f.s.UpdateUser(f.ctx, store.User{
				ID: newID(), Email: "ghost@example.com", PasswordHash: "x",
				Status: store.UserActive, CreatedAt: base, UpdatedAt: base,
			})
			f.wantErr("UpdateUser(unknown)", err, store.ErrNotFound)
			if users, err := f.s.ListUsers(f.ctx); err != nil || len(users) != 0 {
				f.t.Errorf("ListUsers = %d users, %v; want none", len(users), err)
			}
		},
	},
	{
		name: "User/ListOldestFirst",
		what: "ListUsers returns nothing for an empty store, then every user ordered by CreatedAt, not by insertion",
		run: func(f *fixture) {
			users, err := f.s.ListUsers(f.ctx)
			if err != nil || len(users) != 0 {
				f.t.Fatalf("ListUsers on an empty store = %d users, %v; want none", len(users), err)
			}
			c := f.user(func(u *store.User) { u.CreatedAt = at(2 * time.Hour) })
			a := f.user(func(u *store.User) { u.CreatedAt = at(0) })
			b := f.user(func(u *store.User) { u.CreatedAt = at(time.Hour) })
			users, err = f.s.ListUsers(f.ctx)
			if err != nil {
				f.t.Fatalf("ListUsers: %v", err)
			}
			if len(users) != 3 {
				f.t.Fatalf("ListUsers returned %d users, want 3", len(users))
			}
			for i, want := range []store.User{a, b, c} {
				f.sameUser("ListUsers", users[i], want)
			}
		},
	},
}
