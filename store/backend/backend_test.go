package backend_test

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/backend"
	"github.com/latchkey-dev/latchkey/store/postgres"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// Open picks the backend by scheme, Migrate needs no type assertion, and the
// store works; PostgreSQL takes its schema from Options.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	pg, err := url.Parse(pgtest.FreshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	pg.RawQuery = "sslmode=disable" // no search_path: Options decide
	for name, u := range map[string]string{
		"sqlite":   "sqlite://" + filepath.Join(t.TempDir(), "lk.db"),
		"postgres": pg.String(),
	} {
		t.Run(name, func(t *testing.T) {
			st, err := backend.Open(ctx, u, backend.Options{Postgres: postgres.Options{Schema: "auth_tables"}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateUser(ctx, store.User{ID: "u1", Email: "a@example.com", PasswordHash: "x", Status: store.UserActive,
				CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}); err != nil {
				t.Fatal(err)
			}
			if name == "postgres" {
				conn, err := pgx.Connect(ctx, u)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				var n int
				if err := conn.QueryRow(ctx, `SELECT count(*) FROM auth_tables.users`).Scan(&n); err != nil || n != 1 {
					t.Fatalf("the user is not in schema auth_tables: %d %v", n, err)
				}
			}
		})
	}
}

// An unknown scheme is refused without repeating the URL's secrets.
func TestOpenUnknownScheme(t *testing.T) {
	_, err := backend.Open(context.Background(), "mysql://root:hunter2@db/app", backend.Options{})
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "mysql://") {
		t.Fatalf("unknown scheme: %v", err)
	}
}
