package sqlite

import (
	"database/sql"
	"fmt"
	"time"
)

// Unix nanoseconds fit an int64 from 1677-09-21 to 2262-04-11; the bounds are
// kept a day inside that range.
var (
	minTime = time.Unix(0, -1<<63).Add(24 * time.Hour)
	maxTime = time.Unix(0, 1<<63-1).Add(-24 * time.Hour)
)

// enc encodes times as Unix nanoseconds (NULL for the zero time) and keeps the
// first time it cannot represent, so a statement's arguments can be built in
// one expression and checked once.
type enc struct{ err error }

func (e *enc) time(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		if e.err == nil {
			e.err = fmt.Errorf("sqlite: time %s outside the storable range %s to %s",
				t.UTC().Format(time.RFC3339), minTime.UTC().Format(time.DateOnly), maxTime.UTC().Format(time.DateOnly))
		}
		return nil
	}
	return t.UnixNano()
}

// fromNanos decodes a NOT NULL time column.
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// fromNull decodes a nullable time column: NULL is the zero time.
func fromNull(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromNanos(n.Int64)
}
