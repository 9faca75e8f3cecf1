package auth_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/auth/userstest"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/sqlite"
)

// The built-in users pass the Users conformance suite.
func TestBuiltinUsers(t *testing.T) {
	userstest.Run(t, func(t *testing.T) userstest.Fixture {
		ctx := context.Background()
		db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "u.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		h := password.New(password.Cheap, 2, 8)
		return userstest.Fixture{
			Users: auth.StoreUsers(db, h), Store: db, Builtin: true,
			Add: func(t *testing.T, email, pw string, active bool) store.User {
				hash, err := h.Hash(ctx, pw)
				if err != nil {
					t.Fatal(err)
				}
				u := store.User{ID: uuid.NewString(), Email: email, PasswordHash: hash,
					Status: store.UserActive, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
				if !active {
					u.Status = store.UserInactive
				}
				if err := db.CreateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
				return u
			},
			SetActive: func(t *testing.T, id string, active bool) {
				u, err := db.UserByID(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				u.Status = store.UserInactive
				if active {
					u.Status = store.UserActive
				}
				if err := db.UpdateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}
