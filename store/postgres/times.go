package postgres

import "time"

// Times are stored as Unix nanoseconds so they round-trip exactly (see the
// package comment). time.Time{}.UnixNano is not 0, so the zero time is mapped
// explicitly, and read back in UTC like every other time.

// nanos converts t for a NOT NULL column: the zero time is 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// nullNanos converts t for a nullable column: the zero time is NULL.
func nullNanos(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UnixNano()
	return &n
}

// fromNanos is the inverse of nanos.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// fromNullNanos is the inverse of nullNanos.
func fromNullNanos(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return fromNanos(*n)
}
