package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/latchkey-dev/latchkey/store"
)

// wrap names the operation that failed and maps the driver's error onto the
// store's sentinels: no rows is store.ErrNotFound, a unique violation is
// store.ErrConflict, and anything that says "the database cannot serve you
// right now" is store.ErrUnavailable. The driver's error stays in the chain
// (for logs, and for errors.Is(err, context.DeadlineExceeded)).
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	if sentinel := classify(err); sentinel != nil {
		return fmt.Errorf("postgres: %s: %w: %w", op, sentinel, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// classify returns the store sentinel err stands for, or nil.
func classify(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch code := pgErr.Code; {
		case code == "23505": // unique_violation
			return store.ErrConflict
		case strings.HasPrefix(code, "08"), // connection_exception and its subclasses
			code == "57P01", // admin_shutdown: the server is stopping
			code == "57P02", // crash_shutdown
			code == "57P03", // cannot_connect_now: the server is starting or in recovery
			code == "53300", // too_many_connections
			code == "25006", // read_only_sql_transaction: a failover left us on a standby
			code == "57014", // query_canceled: statement_timeout, an overloaded server
			code == "40P01", // deadlock_detected: this statement was the victim; a retry succeeds
			code == "40001": // serialization_failure: likewise
			return store.ErrUnavailable
		}
		return nil
	}
	// A caller that gave up is not an outage.
	if errors.Is(err, context.Canceled) {
		return nil
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), // dial, TLS or start-up failed
		errors.Is(err, context.DeadlineExceeded), // dialing, pool acquire, or a slow query
		pgconn.Timeout(err),
		errors.As(err, &netErr), // the connection broke mid-query
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		pgconn.SafeToRetry(err): // failed before anything reached the server
		return store.ErrUnavailable
	}
	return nil
}
