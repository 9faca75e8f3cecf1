// Package ackwalk is the rule both backends apply when a receiver
// acknowledges events (store.Feed.AckEvents): how far a stream's cursor may
// move.
package ackwalk

import (
	"slices"

	"github.com/latchkey-dev/latchkey/store"
)

// Row is what the walk reads of an event.
type Row struct {
	Seq      int64
	ID       string
	Kind     store.EventKind
	StreamID string
}

// PageSize is how many events the walk asks for at a time.
const PageSize = 512

// Cursor walks the events after s's cursor, in pages that next reads (the
// events with a seq above after, in seq order, at most n), and returns the
// seq up to which the cursor may move: past every event s does not receive
// and every one acknowledged in ids, up to the first event s receives that
// ids does not acknowledge.
func Cursor(s store.Stream, ids []string, next func(after int64, n int) ([]Row, error)) (int64, error) {
	acked := make(map[string]bool, len(ids))
	for _, id := range ids {
		acked[id] = true
	}
	cursor := s.Cursor
	for {
		rows, err := next(cursor, PageSize)
		if err != nil {
			return 0, err
		}
		for _, r := range rows {
			if Receives(s, r.Kind, r.StreamID) && !acked[r.ID] {
				return cursor, nil
			}
			cursor = r.Seq
		}
		if len(rows) < PageSize {
			return cursor, nil
		}
	}
}

// Receives reports whether stream s receives an event of kind for streamID
// ("" for every stream): its own events, and shared ones of a kind it is
// delivered.
func Receives(s store.Stream, kind store.EventKind, streamID string) bool {
	return streamID == s.ID || (streamID == "" && slices.Contains(s.Delivered, kind))
}
