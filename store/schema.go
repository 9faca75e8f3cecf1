package store

import (
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
)

// SchemaError says a database's schema is not the one this build's
// migrations make: some are missing (run `latchkey migrate`), or the database
// has versions this build does not know (a newer Latchkey migrated it).
// Commands that must never migrate (latchkey purge) refuse to run then.
type SchemaError struct {
	Have  int64 // the newest version applied; 0: none, or no version table
	Want  int64 // the newest version this build knows
	Newer bool  // the database has a version this build does not know
}

func (e *SchemaError) Error() string {
	switch {
	case e.Newer:
		return fmt.Sprintf("the database schema is at version %d, newer than this latchkey knows (%d): run this command with the newer latchkey that migrated it", e.Have, e.Want)
	case e.Have == 0:
		return fmt.Sprintf("the database has no Latchkey schema (this latchkey needs version %d): run `latchkey migrate`, or start `latchkey serve`, first", e.Want)
	}
	return fmt.Sprintf("the database schema is at version %d, this latchkey needs %d: run `latchkey migrate`, or start the new `latchkey serve`, first", e.Have, e.Want)
}

// MigrationVersions returns the versions of the migration files in fsys,
// named like goose's: a number, an underscore, a name, ".sql".
func MigrationVersions(fsys fs.FS) ([]int64, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, n := range names {
		num, _, ok := strings.Cut(n, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: the name does not start with a version number", n)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out, nil
}

// CompareSchema returns nil when applied (the versions a database recorded
// as applied) is exactly known, else a *SchemaError.
func CompareSchema(applied map[int64]bool, known []int64) error {
	var have, want int64
	for v, ok := range applied {
		if ok && v > have {
			have = v
		}
	}
	if len(known) > 0 {
		want = known[len(known)-1]
	}
	if have > want {
		return &SchemaError{Have: have, Want: want, Newer: true}
	}
	for _, v := range known {
		if !applied[v] {
			return &SchemaError{Have: have, Want: want}
		}
	}
	return nil
}
