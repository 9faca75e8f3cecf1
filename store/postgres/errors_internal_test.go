package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/latchkey-dev/latchkey/store"
)

// A statement PostgreSQL aborted to break a deadlock, or for a serialization
// failure, succeeds when tried again: the store reports it as unavailable
// (the server answers 503 with Retry-After), not as an internal error.
func TestWrapRetryableAsUnavailable(t *testing.T) {
	for code, want := range map[string]error{
		"40P01": store.ErrUnavailable, // deadlock_detected
		"40001": store.ErrUnavailable, // serialization_failure
		"57014": store.ErrUnavailable, // query_canceled
		"23505": store.ErrConflict,    // unique_violation
		"42P01": nil,                  // undefined_table: a bug, not a transient state
	} {
		err := wrap("op", &pgconn.PgError{Code: code})
		for _, s := range []error{store.ErrUnavailable, store.ErrConflict} {
			if errors.Is(err, s) != (s == want) {
				t.Errorf("code %s: errors.Is(%v, %v) = %v", code, err, s, !(s == want))
			}
		}
	}
}
