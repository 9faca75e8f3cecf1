package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/internal/ackwalk"
)

var _ store.Feed = (*DB)(nil)

// The feed's tables are ssf_events, ssf_receivers and ssf_streams
// (migration 00005). Events are written by the single writer, so their seq
// order is their commit order; readers see a prefix of it.

const receiverCols = `id, name, audience, credential_hash, created_at`

// CreateReceiver inserts r; a taken id, name or credential hash is
// store.ErrConflict.
func (db *DB) CreateReceiver(ctx context.Context, r store.Receiver) error {
	var e enc
	args := []any{r.ID, r.Name, r.Audience, r.CredentialHash, e.time(r.CreatedAt)}
	if e.err != nil {
		return e.err
	}
	// Every write of the feed goes through the group commit (batch.go).
	return db.wrap(ctx, "create receiver", db.submit(ctx, false, func(t *wtx) error {
		_, err := t.exec(`INSERT INTO ssf_receivers (`+receiverCols+`) VALUES (?, ?, ?, ?, ?)`, args...)
		if constraintOnly(err) {
			return expected(err)
		}
		return err
	}))
}

// Receivers returns every receiver, by name.
func (db *DB) Receivers(ctx context.Context) ([]store.Receiver, error) {
	return queryAll(ctx, db, "receivers", scanReceiver, `SELECT `+receiverCols+` FROM ssf_receivers ORDER BY name`)
}

// ReceiverByCredential returns the receiver whose credential hash is hash.
func (db *DB) ReceiverByCredential(ctx context.Context, hash []byte) (store.Receiver, error) {
	r, err := scanReceiver(db.r.QueryRowContext(ctx, `SELECT `+receiverCols+` FROM ssf_receivers WHERE credential_hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Receiver{}, fmt.Errorf("sqlite: receiver: %w", store.ErrNotFound)
	}
	return r, db.wrap(ctx, "receiver", err)
}

// DeleteReceiver deletes the receiver, its streams (ON DELETE CASCADE) and
// their own events.
func (db *DB) DeleteReceiver(ctx context.Context, id string) error {
	return db.wrap(ctx, "delete receiver", db.submit(ctx, true, func(t *wtx) error {
		if _, err := t.exec(`DELETE FROM ssf_events
			WHERE stream_id IN (SELECT id FROM ssf_streams WHERE receiver_id = ?)`, id); err != nil {
			return err
		}
		return mustChange(t.exec(`DELETE FROM ssf_receivers WHERE id = ?`, id))
	}))
}

func scanReceiver(s scanner) (store.Receiver, error) {
	var (
		r       store.Receiver
		created int64
	)
	if err := s.Scan(&r.ID, &r.Name, &r.Audience, &r.CredentialHash, &created); err != nil {
		return store.Receiver{}, err
	}
	r.CreatedAt = fromNanos(created)
	return r, nil
}

const streamCols = `id, receiver_id, push, endpoint_url, authorization_header, events_requested,
	events_delivered, description, status, status_reason, cursor, lease_owner, lease_until,
	seen_at, created_at, updated_at`

// headSeq is the newest event's seq (0 when there is none). Cursors never
// move back: it is used as max(cursor, headSeq).
const headSeq = `(SELECT coalesce(max(seq), 0) FROM ssf_events)`

// CreateStream inserts s with its cursor before the first event at or after
// replayFrom (after the newest event when replayFrom is zero or nothing
// happened since).
func (db *DB) CreateStream(ctx context.Context, s store.Stream, replayFrom time.Time) error {
	var e enc
	created, updated, from := e.time(s.CreatedAt), e.time(s.UpdatedAt), e.time(replayFrom)
	if e.err != nil {
		return e.err
	}
	req, del, err := encodeKinds(s)
	if err != nil {
		return err
	}
	err = db.submit(ctx, false, func(t *wtx) error {
		var cursor int64
		q := `SELECT ` + headSeq
		args := []any{}
		if from != nil {
			q = `SELECT coalesce((SELECT min(seq) - 1 FROM ssf_events WHERE at >= ?), ` + headSeq + `)`
			args = append(args, from)
		}
		if err := t.rows(q, args, func(st *sqlite3.Stmt) error { cursor = st.ColumnInt64(0); return nil }); err != nil {
			return err
		}
		_, err := t.exec(`INSERT INTO ssf_streams (`+streamCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', 0, ?, ?, ?)`,
			s.ID, s.ReceiverID, s.Push, s.EndpointURL, s.Authorization, req, del, s.Description,
			string(s.Status), s.StatusReason, cursor, created, created, updated)
		switch {
		case errors.Is(err, sqlite3.CONSTRAINT_FOREIGNKEY):
			return expected(fmt.Errorf("no receiver %q: %w", s.ReceiverID, store.ErrNotFound))
		case constraintOnly(err):
			return expected(err)
		}
		return err
	})
	return db.wrap(ctx, "create stream", err)
}

// Stream returns the stream with id.
func (db *DB) Stream(ctx context.Context, id string) (store.Stream, error) {
	s, err := scanStream(db.r.QueryRowContext(ctx, `SELECT `+streamCols+` FROM ssf_streams WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Stream{}, fmt.Errorf("sqlite: stream: %w", store.ErrNotFound)
	}
	return s, db.wrap(ctx, "stream", err)
}

// Streams returns the streams of receiverID (all when ""), oldest first.
func (db *DB) Streams(ctx context.Context, receiverID string) ([]store.Stream, error) {
	return queryAll(ctx, db, "streams", scanStream, `SELECT `+streamCols+` FROM ssf_streams
		WHERE ? = '' OR receiver_id = ? ORDER BY created_at, id`, receiverID, receiverID)
}

// UpdateStream writes s's configuration and status; a stream leaving
// "disabled" jumps to the newest event.
func (db *DB) UpdateStream(ctx context.Context, s store.Stream) error {
	var e enc
	updated := e.time(s.UpdatedAt)
	if e.err != nil {
		return e.err
	}
	req, del, err := encodeKinds(s)
	if err != nil {
		return err
	}
	// SQLite evaluates every SET expression against the row as it was, so
	// status in the CASE is the old status.
	err = db.submit(ctx, false, func(t *wtx) error {
		return mustChange(t.exec(`UPDATE ssf_streams SET push = ?, endpoint_url = ?,
			authorization_header = ?, events_requested = ?, events_delivered = ?, description = ?,
			status = ?, status_reason = ?, updated_at = ?,
			cursor = CASE WHEN status = 'disabled' AND ? <> 'disabled' THEN max(cursor, `+headSeq+`) ELSE cursor END
			WHERE id = ?`,
			s.Push, s.EndpointURL, s.Authorization, req, del, s.Description, string(s.Status), s.StatusReason,
			updated, string(s.Status), s.ID))
	})
	return db.wrap(ctx, "update stream", err)
}

// DeleteStream deletes the stream and its own events.
func (db *DB) DeleteStream(ctx context.Context, id string) error {
	return db.wrap(ctx, "delete stream", db.submit(ctx, true, func(t *wtx) error {
		if _, err := t.exec(`DELETE FROM ssf_events WHERE stream_id = ?`, id); err != nil {
			return err
		}
		return mustChange(t.exec(`DELETE FROM ssf_streams WHERE id = ?`, id))
	}))
}

func scanStream(s scanner) (store.Stream, error) {
	var (
		x                             store.Stream
		req, del, status              string
		lease, seen, created, updated int64
	)
	err := s.Scan(&x.ID, &x.ReceiverID, &x.Push, &x.EndpointURL, &x.Authorization, &req, &del, &x.Description,
		&status, &x.StatusReason, &x.Cursor, &x.LeaseOwner, &lease, &seen, &created, &updated)
	if err != nil {
		return store.Stream{}, err
	}
	if err := decodeKinds(&x, req, del); err != nil {
		return store.Stream{}, err
	}
	x.Status = store.StreamStatus(status)
	x.LeaseUntil, x.SeenAt = fromLease(lease), fromNanos(seen)
	x.CreatedAt, x.UpdatedAt = fromNanos(created), fromNanos(updated)
	return x, nil
}

// fromLease decodes lease_until, where 0 is "never leased".
func fromLease(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return fromNanos(n)
}

// encodeKinds returns s's requested and delivered event types as the JSON
// arrays the columns hold.
func encodeKinds(s store.Stream) (req, del string, err error) {
	r, err := json.Marshal(nonNil(s.Requested))
	if err != nil {
		return "", "", err
	}
	d, err := json.Marshal(nonNil(s.Delivered))
	return string(r), string(d), err
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func decodeKinds(s *store.Stream, req, del string) error {
	if err := json.Unmarshal([]byte(req), &s.Requested); err != nil {
		return fmt.Errorf("events_requested: %w", err)
	}
	if err := json.Unmarshal([]byte(del), &s.Delivered); err != nil {
		return fmt.Errorf("events_delivered: %w", err)
	}
	return nil
}

// mustChange turns a write that changed no row into store.ErrNotFound, the
// expected failure of this write alone.
func mustChange(n int64, err error) error {
	if err == nil && n == 0 {
		return expected(store.ErrNotFound)
	}
	return err
}

const eventCols = `seq, id, kind, stream_id, session_id, user_id, reason, state, txn, at`

// AddStreamEvent records a stream's own event after every committed one.
func (db *DB) AddStreamEvent(ctx context.Context, ev store.Event) error {
	var e enc
	at := e.time(ev.At)
	if e.err != nil {
		return e.err
	}
	if ev.StreamID == "" {
		return errors.New("sqlite: add stream event: the event names no stream")
	}
	return db.wrap(ctx, "add stream event", db.submit(ctx, false, func(t *wtx) error {
		return mustChange(t.exec(`INSERT INTO ssf_events (id, kind, stream_id, session_id, user_id, reason, state, txn, at)
			SELECT ?, ?, id, ?, ?, ?, ?, ?, ? FROM ssf_streams WHERE id = ?`,
			ev.ID, string(ev.Kind), ev.SessionID, ev.UserID, ev.Reason, ev.State, ev.Txn, at, ev.StreamID))
	}))
}

// StreamEvents returns up to limit events after the stream's cursor that the
// stream receives, in seq order.
func (db *DB) StreamEvents(ctx context.Context, streamID string, limit int) ([]store.Event, error) {
	s, err := db.Stream(ctx, streamID)
	if err != nil {
		return nil, err
	}
	q, args := streamEventsQuery(s, limit)
	return queryAll(ctx, db, "stream events", scanEvent, q, args...)
}

// streamEventsQuery selects the events after s's cursor that s receives:
// its own, and the shared ones of a kind it is delivered.
func streamEventsQuery(s store.Stream, limit int) (string, []any) {
	args := []any{s.Cursor, s.ID}
	kinds := "NULL" // IN (NULL) matches nothing
	if len(s.Delivered) > 0 {
		kinds = strings.Repeat("?, ", len(s.Delivered)-1) + "?"
		for _, k := range s.Delivered {
			args = append(args, string(k))
		}
	}
	args = append(args, limit)
	return `SELECT ` + eventCols + ` FROM ssf_events
		WHERE seq > ? AND (stream_id = ? OR (stream_id = '' AND kind IN (` + kinds + `)))
		ORDER BY seq LIMIT ?`, args
}

func scanEvent(s scanner) (store.Event, error) {
	var (
		e    store.Event
		kind string
		at   int64
	)
	if err := s.Scan(&e.Seq, &e.ID, &kind, &e.StreamID, &e.SessionID, &e.UserID, &e.Reason, &e.State, &e.Txn, &at); err != nil {
		return store.Event{}, err
	}
	e.Kind, e.At = store.EventKind(kind), fromNanos(at)
	return e, nil
}

// AckEvents moves the stream's cursor over the acknowledged prefix of the
// events it receives.
//
// The walk over the events reads on a reader connection, never in the
// single writer: after a long quiet spell a sparse stream (one that asks
// only for credential-change events, or none but its own) walks every
// event since its cursor, and sign-ins and refreshes must not wait for
// that. The writer then moves the cursor with one compare-and-set: forward
// only (a concurrent acknowledgement may have moved it further; both walks
// started at or after the old cursor, so the larger is right), and only if
// the stream still receives what the walk judged by. Readers see a prefix
// of the feed (one writer commits in seq order), so the walk never passes
// an event that commits later.
func (db *DB) AckEvents(ctx context.Context, streamID string, ids []string) error {
	for range 3 {
		s, err := db.Stream(ctx, streamID)
		if err != nil {
			return err
		}
		cursor, err := ackwalk.Cursor(s, ids, func(after int64, n int) ([]ackwalk.Row, error) {
			rows, err := db.r.QueryContext(ctx, `SELECT seq, id, kind, stream_id FROM ssf_events WHERE seq > ? ORDER BY seq LIMIT ?`, after, n)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out []ackwalk.Row
			for rows.Next() {
				var r ackwalk.Row
				var kind string
				if err := rows.Scan(&r.Seq, &r.ID, &kind, &r.StreamID); err != nil {
					return nil, err
				}
				r.Kind = store.EventKind(kind)
				out = append(out, r)
			}
			return out, rows.Err()
		})
		if err != nil {
			return db.wrap(ctx, "ack events", err)
		}
		if cursor == s.Cursor {
			return nil
		}
		_, del, err := encodeKinds(s)
		if err != nil {
			return err
		}
		var moved bool
		err = db.submit(ctx, false, func(t *wtx) error {
			n, err := t.exec(`UPDATE ssf_streams SET cursor = max(cursor, ?) WHERE id = ? AND events_delivered = ?`, cursor, streamID, del)
			moved = n == 1
			return err
		})
		if err != nil || moved {
			return db.wrap(ctx, "ack events", err)
		}
		// Deleted (the next read says so), or it changed what it receives
		// since it was read: walk again.
	}
	return nil // the stream keeps changing: these acknowledgements are dropped, and the events delivered again
}

// FeedHead returns the newest event's seq.
func (db *DB) FeedHead(ctx context.Context) (int64, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, `SELECT `+headSeq).Scan(&n)
	return n, db.wrap(ctx, "feed head", err)
}

// LeaseStream takes, renews or (ttl <= 0) releases owner's lease on the
// stream. The single writer makes the compare-and-set exclusive, across
// processes too (the write lock).
func (db *DB) LeaseStream(ctx context.Context, streamID, owner string, now time.Time, ttl time.Duration) (bool, error) {
	var e enc
	n, until := e.time(now), e.time(now.Add(ttl))
	if e.err != nil {
		return false, e.err
	}
	var held bool
	err := db.submit(ctx, false, func(t *wtx) error {
		if ttl <= 0 {
			_, err := t.exec(`UPDATE ssf_streams SET lease_until = ? WHERE id = ? AND lease_owner = ?`, n, streamID, owner)
			return err
		}
		// Held by another, or no such stream: not held either way.
		c, err := t.exec(`UPDATE ssf_streams SET lease_owner = ?, lease_until = ?
			WHERE id = ? AND (lease_owner = ? OR lease_until <= ?)`, owner, until, streamID, owner, n)
		held = err == nil && c == 1
		return err
	})
	return held, db.wrap(ctx, "lease stream", err)
}

// TouchStream records a sign of life from the stream's receiver.
func (db *DB) TouchStream(ctx context.Context, streamID string, now time.Time) error {
	var e enc
	n := e.time(now)
	if e.err != nil {
		return e.err
	}
	return db.wrap(ctx, "touch stream", db.submit(ctx, false, func(t *wtx) error {
		return mustChange(t.exec(`UPDATE ssf_streams SET seen_at = max(seen_at, ?) WHERE id = ?`, n, streamID))
	}))
}

// PurgeFeed deletes the events that happened before eventsBefore and the
// streams last seen before unseenBefore, with their own events.
func (db *DB) PurgeFeed(ctx context.Context, eventsBefore, unseenBefore time.Time) (events, streams int64, err error) {
	var e enc
	cut, unseen := e.time(eventsBefore), e.time(unseenBefore)
	if e.err != nil {
		return 0, 0, e.err
	}
	// One write of the group commit: the feed holds the events of the last
	// access-token lifetime or so, a small table.
	err = db.submit(ctx, true, func(t *wtx) error {
		events, streams = 0, 0
		if unseen != nil {
			if _, err := t.exec(`DELETE FROM ssf_events
				WHERE stream_id IN (SELECT id FROM ssf_streams WHERE seen_at < ?)`, unseen); err != nil {
				return err
			}
			var err error
			if streams, err = t.exec(`DELETE FROM ssf_streams WHERE seen_at < ?`, unseen); err != nil {
				return err
			}
		}
		var err error
		events, err = t.exec(`DELETE FROM ssf_events WHERE at < ?`, cut)
		return err
	})
	return events, streams, db.wrap(ctx, "purge feed", err)
}

// Backlogs reads every enabled stream's oldest waiting event (the first
// after its cursor that it receives) in one query.
func (db *DB) Backlogs(ctx context.Context) ([]store.Backlog, error) {
	return queryAll(ctx, db, "backlogs", func(sc scanner) (store.Backlog, error) {
		var (
			b  store.Backlog
			at int64
		)
		if err := sc.Scan(&b.StreamID, &b.Receiver, &b.Push, &at); err != nil {
			return store.Backlog{}, err
		}
		if at != 0 {
			b.Oldest = fromNanos(at)
		}
		return b, nil
	}, `SELECT s.id, r.name, s.push, coalesce((SELECT e.at FROM ssf_events e WHERE e.seq > s.cursor
			AND (e.stream_id = s.id OR (e.stream_id = '' AND e.kind IN (SELECT value FROM json_each(s.events_delivered))))
			ORDER BY e.seq LIMIT 1), 0)
		FROM ssf_streams s JOIN ssf_receivers r ON r.id = s.receiver_id
		WHERE s.status = 'enabled' ORDER BY s.created_at, s.id`)
}
