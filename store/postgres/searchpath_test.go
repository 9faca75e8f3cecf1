package postgres_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/store/postgres"
)

// attack: a DATABASE_URL whose search_path lists several schemas (the
// usual way to keep extensions in public reachable: search_path=auth,public)
// or names one in capitals (PostgreSQL folds an unquoted Auth to auth) was
// "used as given" without creating its first schema; the tables then went to
// the first schema that existed, public, and collided with the application's
// own users table (the collision DATABASE_SCHEMA prevents, back by the documented
// search_path route), or Migrate failed with "no schema has been selected to
// create in".
func TestSearchPathListInURL(t *testing.T) {
	for _, c := range []struct{ searchPath, schema string }{
		{"lkauth,public", "lkauth"},
		{"Auth", "auth"},
		{"lk_store, public", "lk_store"},
	} {
		dbURL := bareDatabase(t)
		execSQL(t, dbURL, `CREATE TABLE users (id serial PRIMARY KEY, login text NOT NULL)`)
		u, _ := url.Parse(dbURL)
		q := u.Query()
		q.Set("search_path", c.searchPath)
		u.RawQuery = q.Encode()
		if _, err := migrate(t, u.String(), postgres.Options{}); err != nil {
			t.Errorf("search_path=%s: %v", c.searchPath, err)
			continue
		}
		if got := "," + strings.Join(tablesIn(t, dbURL, c.schema), ",") + ","; !strings.Contains(got, ",latchkey_schema_migrations,") ||
			!strings.Contains(got, ",sessions,") || !strings.Contains(got, ",users,") {
			t.Errorf("search_path=%s: schema %s holds %q; want Latchkey's tables", c.searchPath, c.schema, got)
		}
		if got := strings.Join(tablesIn(t, dbURL, "public"), ","); got != "users" {
			t.Errorf("search_path=%s: public holds %q; want only the application's users", c.searchPath, got)
		}
	}
}

// A search_path list that reaches an install already made further down it
// (tables in public, search_path=latchkey,public) keeps using that install:
// Migrate does not create the first schema in front of it (every session
// would be hidden behind an empty set of tables).
func TestSearchPathListReachingAnInstall(t *testing.T) {
	dbURL := bareDatabase(t)
	old, err := migrate(t, dbURL, postgres.Options{Schema: "public"})
	if err != nil {
		t.Fatal(err)
	}
	mustCreateUser(t, old, activeUser("u1"))
	old.Close()
	u, _ := url.Parse(dbURL)
	q := u.Query()
	q.Set("search_path", "latchkey,public")
	u.RawQuery = q.Encode()
	db, err := migrate(t, u.String(), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.UserByID(context.Background(), "u1"); err != nil {
		t.Fatalf("the install in public, through search_path=latchkey,public: %v", err)
	}
	if got := tablesIn(t, dbURL, "latchkey"); len(got) != 0 {
		t.Fatalf("schema latchkey holds %v; want nothing", got)
	}
}
