package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// schema is where a DB's tables are.
type schema struct {
	// name is the schema Migrate creates and checks: Options.Schema, or the
	// first schema of the URL's search_path; "" when that is not a plain
	// name ("$user", a quoted name: then the path is the operator's).
	name string
	// defaulted is true when neither Options.Schema nor the URL chose:
	// the only case where tables left in public by an older install are
	// looked for.
	defaulted bool
	// fromURL is true when name is the first schema of the URL's
	// search_path: an install the rest of the path already reaches is used
	// where it is.
	fromURL bool
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CheckSchema reports whether name can be Options.Schema: a lower-case SQL
// identifier (a-z, 0-9, _; not starting with a digit; at most 63 bytes).
func CheckSchema(name string) error {
	if !schemaName.MatchString(name) {
		return fmt.Errorf("schema %q: want a lower-case SQL identifier (a-z, 0-9, _; at most 63 bytes)", name)
	}
	return nil
}

// chooseSchema decides the schema from Options.Schema and the URL's
// runtime parameters, and sets search_path in params accordingly.
func chooseSchema(opt string, params map[string]string) (schema, error) {
	if opt == "" {
		if sp, ok := params["search_path"]; ok {
			// The search_path is used as given. PostgreSQL creates tables in
			// its first schema that exists, so its first schema is the one
			// Migrate creates: were it missing, a list such as
			// "auth,public" would put the tables in public.
			first, _, _ := strings.Cut(sp, ",")
			first = strings.ToLower(strings.TrimSpace(first)) // an unquoted name is folded to lower case
			if schemaName.MatchString(first) {
				return schema{name: first, fromURL: true}, nil
			}
			return schema{}, nil // "$user" or a quoted name: the operator's
		}
		params["search_path"] = DefaultSchema
		return schema{name: DefaultSchema, defaulted: true}, nil
	}
	if err := CheckSchema(opt); err != nil {
		return schema{}, fmt.Errorf("postgres: %w", err)
	}
	params["search_path"] = opt
	return schema{name: opt}, nil
}

// ErrTablesInPublic is Migrate's refusal to start an empty DefaultSchema in a
// database where an install made before the schema option keeps its tables
// in public.
var ErrTablesInPublic = errors.New("postgres: Latchkey's tables are in schema public (an install made before the schema option)")

// prepareSchema runs on the migration lock's connection before the
// migrations: it refuses a defaulted schema beside an older install's tables
// in public, and creates the schema if it does not exist (without asking for
// the CREATE privilege when it does).
func (db *DB) prepareSchema(ctx context.Context, conn *pgx.Conn) error {
	if db.schema.name == "" {
		return nil
	}
	var exists, ours, legacy, reachable bool
	err := conn.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1),
		EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2),
		EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename = $2),
		to_regclass($2) IS NOT NULL`,
		db.schema.name, migrationTable).Scan(&exists, &ours, &legacy, &reachable)
	if err != nil {
		return wrap("migrate: look for the schema", err)
	}
	if db.schema.defaulted && !ours && legacy && db.schema.name != "public" {
		return fmt.Errorf("%w: set DATABASE_SCHEMA=public (postgres.Options.Schema = \"public\") to keep using them there, "+
			"or move them into schema %s (docs/embedding.md, \"Tables and schema\")", ErrTablesInPublic, db.schema.name)
	}
	if exists || (db.schema.fromURL && reachable) {
		// A missing first schema of a URL's search_path in front of an
		// install the path already reaches is not created: it would hide
		// that install behind empty tables.
		return nil
	}
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{db.schema.name}.Sanitize()); err != nil {
		return wrap("migrate: create schema "+db.schema.name, err)
	}
	return nil
}
