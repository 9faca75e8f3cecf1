package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	_ "github.com/ncruces/go-sqlite3/driver" // the "sqlite3" database/sql driver
)

// reportDBSize prints the bytes each session costs on disk: the used pages
// of the whole database (users, sessions, their indexes) over the number of
// sessions, and the sessions table with its indexes alone where the database
// can say.
func reportDBSize(ctx context.Context, w io.Writer, databaseURL string, seeded int) {
	var err error
	switch {
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		err = postgresSize(ctx, w, databaseURL)
	default:
		err = sqliteSize(ctx, w, databaseURL)
	}
	if err != nil {
		fmt.Fprintf(w, "database size: %v\n", err)
	}
}

func sqliteSize(ctx context.Context, w io.Writer, databaseURL string) error {
	path := strings.TrimPrefix(databaseURL, "sqlite://")
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var pages, free, size, sessions, users int64
	for _, q := range []struct {
		sql string
		v   *int64
	}{
		{"PRAGMA page_count", &pages}, {"PRAGMA freelist_count", &free}, {"PRAGMA page_size", &size},
		{"SELECT count(*) FROM sessions", &sessions}, {"SELECT count(*) FROM users", &users},
	} {
		if err := db.QueryRowContext(ctx, q.sql).Scan(q.v); err != nil {
			return fmt.Errorf("%s: %w", q.sql, err)
		}
	}
	if sessions == 0 {
		return nil
	}
	used := (pages - free) * size
	fmt.Fprintf(w, "SQLite: %d sessions, %d users; %d used pages x %d B = %s; %.0f bytes per session (whole database)\n",
		sessions, users, pages-free, size, mib(uint64(used)), float64(used)/float64(sessions))
	var tbl int64
	err = db.QueryRowContext(ctx, `SELECT sum(pgsize) FROM dbstat WHERE name IN
		('sessions', 'sessions_user')`).Scan(&tbl)
	if err == nil {
		fmt.Fprintf(w, "SQLite: sessions table + its indexes %s = %.0f bytes per session\n", mib(uint64(tbl)), float64(tbl)/float64(sessions))
	}
	return nil
}

func postgresSize(ctx context.Context, w io.Writer, databaseURL string) error {
	c, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	var sessions, tbl, all int64
	err = c.QueryRow(ctx, `SELECT (SELECT count(*) FROM sessions), pg_total_relation_size('sessions'),
		pg_database_size(current_database())`).Scan(&sessions, &tbl, &all)
	if err != nil || sessions == 0 {
		return err
	}
	fmt.Fprintf(w, "PostgreSQL: %d sessions; sessions table + indexes + TOAST %s = %.0f bytes per session; whole database %s\n",
		sessions, mib(uint64(tbl)), float64(tbl)/float64(sessions), mib(uint64(all)))
	return nil
}
