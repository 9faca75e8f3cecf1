package postgres_test

import (
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
// own users table (issue 24's first defect, back by the documented
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
