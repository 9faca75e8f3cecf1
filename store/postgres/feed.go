package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/internal/ackwalk"
)

var _ store.Feed = (*DB)(nil)

// FeedLockKey is the first key of the transaction-scoped advisory lock the
// feed's sequencer holds while it numbers events (the second key is 0): in
// pg_locks, locktype 'advisory' with classid FeedLockKey and objid 0.
const FeedLockKey = 0x4c4b4631 // "LKF1"

// sequenceOnce gives the events recorded without a seq (every revocation's)
// their seq: in one transaction, under the feed lock, so sequencers run one
// after another. An event gets its seq only once it has committed (the
// UPDATE's snapshot is taken after the lock is granted, and sees what
// committed before), and a sequencer that commits later hands out larger
// seqs: so a reader that sees an event sees every event with a smaller seq
// too, and a stream's cursor can move past an event for good. Revocations
// themselves never wait for each other; the feed is numbered by whoever
// reads it (StreamEvents, FeedHead: each instance's watcher does every
// SSF_PUSH_INTERVAL). Events of one revocation are numbered in the order
// they were recorded. Callers go through sequence (sequencer.go).
func (db *DB) sequenceOnce(ctx context.Context) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, FeedLockKey); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			UPDATE ssf_events AS e SET seq = n.seq
			FROM (SELECT ctid, nextval('ssf_events_seq') AS seq
			      FROM (SELECT ctid FROM ssf_events WHERE seq IS NULL ORDER BY at, ctid) AS pending) AS n
			WHERE e.ctid = n.ctid`)
		return err
	})
}

const receiverColumns = `id, name, audience, credential_hash, created_at`

// CreateReceiver inserts r; store.ErrConflict if its id, name or credential
// hash is taken.
func (db *DB) CreateReceiver(ctx context.Context, r store.Receiver) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO ssf_receivers (`+receiverColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		r.ID, r.Name, r.Audience, r.CredentialHash, nanos(r.CreatedAt))
	return wrap("create receiver", err)
}

// Receivers returns every receiver, by name.
func (db *DB) Receivers(ctx context.Context) ([]store.Receiver, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+receiverColumns+` FROM ssf_receivers ORDER BY name`)
	if err != nil {
		return nil, wrap("receivers", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Receiver, error) { return scanReceiver(r) })
	return out, wrap("receivers", err)
}

// ReceiverByCredential returns the receiver whose credential hash is hash.
func (db *DB) ReceiverByCredential(ctx context.Context, hash []byte) (store.Receiver, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	r, err := scanReceiver(db.pool.QueryRow(ctx, `SELECT `+receiverColumns+` FROM ssf_receivers WHERE credential_hash = $1`, hash))
	return r, wrap("receiver", err)
}

// DeleteReceiver deletes the receiver, its streams (ON DELETE CASCADE) and
// their own events.
func (db *DB) DeleteReceiver(ctx context.Context, id string) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return wrap("delete receiver", pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM ssf_events
			WHERE stream_id IN (SELECT id FROM ssf_streams WHERE receiver_id = $1)`, id); err != nil {
			return err
		}
		return mustChange(tx.Exec(ctx, `DELETE FROM ssf_receivers WHERE id = $1`, id))
	}))
}

func scanReceiver(row pgx.Row) (store.Receiver, error) {
	var (
		r       store.Receiver
		created int64
	)
	if err := row.Scan(&r.ID, &r.Name, &r.Audience, &r.CredentialHash, &created); err != nil {
		return store.Receiver{}, err
	}
	r.CreatedAt = fromNanos(created)
	return r, nil
}

// mustChange turns a statement that changed no row into pgx.ErrNoRows
// (store.ErrNotFound once wrapped).
func mustChange(tag pgconn.CommandTag, err error) error {
	if err == nil && tag.RowsAffected() == 0 {
		return pgx.ErrNoRows
	}
	return err
}

const streamColumns = `id, receiver_id, push, endpoint_url, authorization_header, events_requested,
	events_delivered, description, status, status_reason, cursor, lease_owner, lease_until,
	seen_at, created_at, updated_at`

// headSeq is the newest event's seq (0 when there is none).
const headSeq = `(SELECT coalesce(max(seq), 0) FROM ssf_events)`

// CreateStream inserts s with its cursor before the first event at or after
// replayFrom (after the newest event when replayFrom is zero or nothing
// happened since).
func (db *DB) CreateStream(ctx context.Context, s store.Stream, replayFrom time.Time) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	req, del, err := encodeKinds(s)
	if err != nil {
		return err
	}
	// Number what was recorded before, so that "the next event" is exact.
	if err := db.sequence(ctx); err != nil {
		return wrap("create stream", err)
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var cursor int64
		if replayFrom.IsZero() {
			err = tx.QueryRow(ctx, `SELECT `+headSeq).Scan(&cursor)
		} else {
			err = tx.QueryRow(ctx, `SELECT coalesce((SELECT min(seq) - 1 FROM ssf_events WHERE at >= $1), `+headSeq+`)`,
				nanos(replayFrom)).Scan(&cursor)
		}
		if err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO ssf_streams (`+streamColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, '', 0, $12, $12, $13)`,
			s.ID, s.ReceiverID, s.Push, s.EndpointURL, s.Authorization, req, del, s.Description,
			string(s.Status), s.StatusReason, cursor, nanos(s.CreatedAt), nanos(s.UpdatedAt))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation
			return pgx.ErrNoRows
		}
		return err
	})
	return wrap("create stream", err)
}

// Stream returns the stream with id.
func (db *DB) Stream(ctx context.Context, id string) (store.Stream, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	s, err := scanStream(db.pool.QueryRow(ctx, `SELECT `+streamColumns+` FROM ssf_streams WHERE id = $1`, id))
	return s, wrap("stream", err)
}

// Streams returns the streams of receiverID (all when ""), oldest first.
func (db *DB) Streams(ctx context.Context, receiverID string) ([]store.Stream, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+streamColumns+` FROM ssf_streams
		WHERE $1 = '' OR receiver_id = $1 ORDER BY created_at, id`, receiverID)
	if err != nil {
		return nil, wrap("streams", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Stream, error) { return scanStream(r) })
	return out, wrap("streams", err)
}

// UpdateStream writes s's configuration and status; a stream leaving
// "disabled" jumps to the newest event. (Every SET expression sees the row
// as it was, so status in the CASE is the old one.)
func (db *DB) UpdateStream(ctx context.Context, s store.Stream) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	req, del, err := encodeKinds(s)
	if err != nil {
		return err
	}
	if err := db.sequence(ctx); err != nil { // the newest event, for a stream leaving "disabled"
		return wrap("update stream", err)
	}
	err = mustChange(db.pool.Exec(ctx, `UPDATE ssf_streams SET push = $2, endpoint_url = $3,
		authorization_header = $4, events_requested = $5, events_delivered = $6, description = $7,
		status = $8, status_reason = $9, updated_at = $10,
		cursor = CASE WHEN status = 'disabled' AND $8 <> 'disabled' THEN greatest(cursor, `+headSeq+`) ELSE cursor END
		WHERE id = $1`,
		s.ID, s.Push, s.EndpointURL, s.Authorization, req, del, s.Description, string(s.Status), s.StatusReason,
		nanos(s.UpdatedAt)))
	return wrap("update stream", err)
}

// DeleteStream deletes the stream and its own events.
func (db *DB) DeleteStream(ctx context.Context, id string) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return wrap("delete stream", pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM ssf_events WHERE stream_id = $1`, id); err != nil {
			return err
		}
		return mustChange(tx.Exec(ctx, `DELETE FROM ssf_streams WHERE id = $1`, id))
	}))
}

func scanStream(row pgx.Row) (store.Stream, error) {
	var (
		x                             store.Stream
		req, del                      []byte
		status                        string
		lease, seen, created, updated int64
	)
	err := row.Scan(&x.ID, &x.ReceiverID, &x.Push, &x.EndpointURL, &x.Authorization, &req, &del, &x.Description,
		&status, &x.StatusReason, &x.Cursor, &x.LeaseOwner, &lease, &seen, &created, &updated)
	if err != nil {
		return store.Stream{}, err
	}
	if err := json.Unmarshal(req, &x.Requested); err != nil {
		return store.Stream{}, fmt.Errorf("events_requested: %w", err)
	}
	if err := json.Unmarshal(del, &x.Delivered); err != nil {
		return store.Stream{}, fmt.Errorf("events_delivered: %w", err)
	}
	x.Status = store.StreamStatus(status)
	x.LeaseUntil, x.SeenAt = fromNanos(lease), fromNanos(seen)
	x.CreatedAt, x.UpdatedAt = fromNanos(created), fromNanos(updated)
	return x, nil
}

// encodeKinds returns s's requested and delivered event types as JSON
// arrays (never null).
func encodeKinds(s store.Stream) (req, del string, err error) {
	r := s.Requested
	if r == nil {
		r = []string{}
	}
	d := s.Delivered
	if d == nil {
		d = []store.EventKind{}
	}
	rb, err := json.Marshal(r)
	if err != nil {
		return "", "", err
	}
	dj, err := json.Marshal(d)
	return string(rb), string(dj), err
}

const eventColumns = `seq, id, kind, stream_id, session_id, user_id, reason, state, txn, at`

// AddStreamEvent records a stream's own event after every committed one.
func (db *DB) AddStreamEvent(ctx context.Context, e store.Event) error {
	if e.StreamID == "" {
		return errors.New("postgres: add stream event: the event names no stream")
	}
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return wrap("add stream event", mustChange(db.pool.Exec(ctx, `INSERT INTO ssf_events (id, kind, stream_id, session_id, user_id, reason, state, txn, at)
		SELECT $1, $2, id, $3, $4, $5, $6, $7, $8 FROM ssf_streams WHERE id = $9`,
		e.ID, string(e.Kind), e.SessionID, e.UserID, e.Reason, e.State, e.Txn, nanos(e.At), e.StreamID)))
}

// StreamEvents returns up to limit events after the stream's cursor that the
// stream receives, in seq order (numbering the new ones first).
func (db *DB) StreamEvents(ctx context.Context, streamID string, limit int) ([]store.Event, error) {
	s, err := db.Stream(ctx, streamID)
	if err != nil {
		return nil, err
	}
	if err := db.sequence(ctx); err != nil {
		return nil, wrap("stream events", err)
	}
	kinds := make([]string, len(s.Delivered))
	for i, k := range s.Delivered {
		kinds[i] = string(k)
	}
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+eventColumns+` FROM ssf_events
		WHERE seq > $1 AND (stream_id = $2 OR (stream_id = '' AND kind = ANY($3)))
		ORDER BY seq LIMIT $4`, s.Cursor, s.ID, kinds, limit)
	if err != nil {
		return nil, wrap("stream events", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Event, error) {
		var (
			e    store.Event
			kind string
			at   int64
		)
		err := r.Scan(&e.Seq, &e.ID, &kind, &e.StreamID, &e.SessionID, &e.UserID, &e.Reason, &e.State, &e.Txn, &at)
		e.Kind, e.At = store.EventKind(kind), fromNanos(at)
		return e, err
	})
	return out, wrap("stream events", err)
}

// AckEvents moves the stream's cursor over the acknowledged prefix of the
// events it receives. The stream's row is locked meanwhile, so concurrent
// acknowledgements (a receiver polling two instances) move it one at a time,
// and only forward.
func (db *DB) AckEvents(ctx context.Context, streamID string, ids []string) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	if err := db.sequence(ctx); err != nil {
		return wrap("ack events", err)
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		s, err := scanStream(tx.QueryRow(ctx, `SELECT `+streamColumns+` FROM ssf_streams WHERE id = $1 FOR UPDATE`, streamID))
		if err != nil {
			return err
		}
		cursor, err := ackwalk.Cursor(s, ids, func(after int64, n int) ([]ackwalk.Row, error) {
			rows, err := tx.Query(ctx, `SELECT seq, id, kind, stream_id FROM ssf_events WHERE seq > $1 ORDER BY seq LIMIT $2`, after, n)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ackwalk.Row, error) {
				var (
					x    ackwalk.Row
					kind string
				)
				err := r.Scan(&x.Seq, &x.ID, &kind, &x.StreamID)
				x.Kind = store.EventKind(kind)
				return x, err
			})
		})
		if err != nil || cursor == s.Cursor {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE ssf_streams SET cursor = $2 WHERE id = $1 AND cursor < $2`, streamID, cursor)
		return err
	})
	return wrap("ack events", err)
}

// FeedHead numbers the new events and returns the newest event's seq.
func (db *DB) FeedHead(ctx context.Context) (int64, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	if err := db.sequence(ctx); err != nil {
		return 0, wrap("feed head", err)
	}
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT `+headSeq).Scan(&n)
	return n, wrap("feed head", err)
}

// LeaseStream takes, renews or (ttl <= 0) releases owner's lease on the
// stream; the compare-and-set is one UPDATE, so two instances never both
// hold it.
func (db *DB) LeaseStream(ctx context.Context, streamID, owner string, now time.Time, ttl time.Duration) (bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	if ttl <= 0 {
		_, err := db.pool.Exec(ctx, `UPDATE ssf_streams SET lease_until = $3 WHERE id = $1 AND lease_owner = $2`,
			streamID, owner, nanos(now))
		return false, wrap("lease stream", err)
	}
	tag, err := db.pool.Exec(ctx, `UPDATE ssf_streams SET lease_owner = $2, lease_until = $3
		WHERE id = $1 AND (lease_owner = $2 OR lease_until <= $4)`, streamID, owner, nanos(now.Add(ttl)), nanos(now))
	if err != nil {
		return false, wrap("lease stream", err)
	}
	return tag.RowsAffected() == 1, nil
}

// TouchStream records a sign of life from the stream's receiver.
func (db *DB) TouchStream(ctx context.Context, streamID string, now time.Time) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	err := mustChange(db.pool.Exec(ctx, `UPDATE ssf_streams SET seen_at = greatest(seen_at, $2) WHERE id = $1`,
		streamID, nanos(now)))
	return wrap("touch stream", err)
}

// PurgeFeed deletes the events that happened before eventsBefore and the
// streams last seen before unseenBefore, with their own events.
func (db *DB) PurgeFeed(ctx context.Context, eventsBefore, unseenBefore time.Time) (events, streams int64, err error) {
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// Like Purge, not bounded by the pool's statement_timeout
		// (settings.go): a backlog may take longer than a refresh may.
		if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
			return err
		}
		if !unseenBefore.IsZero() {
			if _, err := tx.Exec(ctx, `DELETE FROM ssf_events
				WHERE stream_id IN (SELECT id FROM ssf_streams WHERE seen_at < $1)`, nanos(unseenBefore)); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `DELETE FROM ssf_streams WHERE seen_at < $1`, nanos(unseenBefore))
			if err != nil {
				return err
			}
			streams = tag.RowsAffected()
		}
		tag, err := tx.Exec(ctx, `DELETE FROM ssf_events WHERE at < $1`, nanos(eventsBefore))
		events = tag.RowsAffected()
		return err
	})
	return events, streams, wrap("purge feed", err)
}

// Backlogs reads every enabled stream's oldest waiting event: the first
// after its cursor, or the oldest not yet sequenced (which no sequencer
// run is needed for: a scrape must neither wait for the feed lock nor
// take it once per stream).
func (db *DB) Backlogs(ctx context.Context) ([]store.Backlog, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT s.id, r.name, s.push, coalesce(least(
			(SELECT e.at FROM ssf_events e WHERE e.seq > s.cursor
				AND (e.stream_id = s.id OR (e.stream_id = '' AND jsonb_exists(s.events_delivered, e.kind)))
				ORDER BY e.seq LIMIT 1),
			(SELECT min(e.at) FROM ssf_events e WHERE e.seq IS NULL
				AND (e.stream_id = s.id OR (e.stream_id = '' AND jsonb_exists(s.events_delivered, e.kind))))), 0)
		FROM ssf_streams s JOIN ssf_receivers r ON r.id = s.receiver_id
		WHERE s.status = 'enabled' ORDER BY s.created_at, s.id`)
	if err != nil {
		return nil, wrap("backlogs", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Backlog, error) {
		var (
			b  store.Backlog
			at int64
		)
		err := r.Scan(&b.StreamID, &b.Receiver, &b.Push, &at)
		if at != 0 {
			b.Oldest = fromNanos(at)
		}
		return b, err
	})
	return out, wrap("backlogs", err)
}
