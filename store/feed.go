package store

import (
	"context"
	"time"
)

// EventKind names a security event the feed records. The values are the last
// path segment of the event types' URIs (OpenID CAEP 1.0 and SSF 1.0).
type EventKind string

const (
	// EventSessionRevoked: a session stopped being usable before its time
	// (CAEP session-revoked). SessionID and UserID name it, Reason says why.
	EventSessionRevoked EventKind = "session-revoked"
	// EventCredentialChange: a user's password changed (CAEP
	// credential-change). UserID names the user.
	EventCredentialChange EventKind = "credential-change"
	// EventVerification: a receiver asked for a verification event (SSF 1.0
	// §8.1.4). StreamID names the one stream it is for; State is the
	// receiver's opaque value.
	EventVerification EventKind = "verification"
)

// Event is one security event in the feed. The store keeps facts, not signed
// tokens: the transmitter builds and signs a SET from them when it delivers
// (with whatever key signs access tokens then).
type Event struct {
	// Seq is the event's place in the feed, set by the store. Events commit
	// in Seq order: once an event is visible, no event with a smaller Seq
	// can appear any more, so a reader that has seen everything up to Seq
	// may move its cursor there for good.
	Seq int64
	// ID is unique; it is the SET's jti.
	ID   string
	Kind EventKind
	// StreamID is "" for events every stream may receive (revocations), and
	// names the one stream a stream's own event (verification) is for.
	StreamID  string
	SessionID string
	UserID    string
	Reason    string // why: the session's revoke reason
	State     string // verification: the receiver's state
	// Txn is shared by the events of one cause (a global sign-out, a
	// deactivation): the SET's txn claim.
	Txn string
	At  time.Time // when it happened
}

// Receiver is a party registered to receive security events (an API that
// enforces revocation). It authenticates with a bearer credential of which
// only the SHA-256 digest is stored.
type Receiver struct {
	ID             string
	Name           string // unique; chosen by the operator
	Audience       string // the aud of the SETs of its streams
	CredentialHash []byte // SHA-256 of the credential
	CreatedAt      time.Time
}

// StreamStatus is an event stream's status (SSF 1.0 §8.1.2).
type StreamStatus string

const (
	// StreamEnabled: events are delivered.
	StreamEnabled StreamStatus = "enabled"
	// StreamPaused: events are held and delivered once enabled again.
	StreamPaused StreamStatus = "paused"
	// StreamDisabled: nothing is delivered or held; when the stream is
	// enabled (or paused) again it starts at the newest event.
	StreamDisabled StreamStatus = "disabled"
)

// Stream is an event stream: what one receiver gets, and how. A stream
// belongs to one receiver.
type Stream struct {
	ID         string
	ReceiverID string
	// Push is true for push delivery (RFC 8935) to EndpointURL with
	// Authorization (the header's whole value, may be ""); false for poll
	// delivery (RFC 8936).
	Push          bool
	EndpointURL   string
	Authorization string
	// Requested are the event types the receiver asked for, as it gave
	// them; Delivered the kinds it gets (the ones of Requested this
	// transmitter supports). A stream's own events (verification) are
	// delivered whatever Delivered says.
	Requested    []string
	Delivered    []EventKind
	Description  string
	Status       StreamStatus
	StatusReason string
	CreatedAt    time.Time
	UpdatedAt    time.Time

	// Set by the store; ignored by CreateStream and UpdateStream.

	// Cursor is the Seq up to which the stream's events are acknowledged:
	// the next delivery starts after it.
	Cursor int64
	// LeaseOwner holds the right to push this stream until LeaseUntil
	// (LeaseStream).
	LeaseOwner string
	LeaseUntil time.Time
	// SeenAt is the last sign of life from the stream's receiver
	// (TouchStream; CreatedAt until then).
	SeenAt time.Time
}

// Feed is the persistence of security events for the SSF transmitter: the
// events (an outbox), the receivers and their streams, each stream's cursor,
// and the leases that let one instance of many push a stream. Both backends
// implement it beside Store; store/storetest.RunFeed is its conformance
// suite.
//
// The events themselves are written by the Store's revocations, in the same
// transaction as the revocation (see RevokeParams.Txn): RevokeSessions,
// CreateSession's eviction at the session limit and DeactivateUser record a
// session-revoked event per session they revoke, so no revocation commits
// without its event.
//
// Delivery is at least once, per stream, in Seq order: StreamEvents returns
// what follows the stream's cursor, and AckEvents moves the cursor over what
// the receiver acknowledged.
type Feed interface {
	// CreateReceiver inserts r. ErrConflict if its id, name or credential
	// hash is taken.
	CreateReceiver(ctx context.Context, r Receiver) error
	// Receivers returns every receiver, by name.
	Receivers(ctx context.Context) ([]Receiver, error)
	// ReceiverByCredential returns the receiver whose CredentialHash is
	// hash; ErrNotFound if none.
	ReceiverByCredential(ctx context.Context, hash []byte) (Receiver, error)
	// DeleteReceiver deletes the receiver, its streams and their own
	// events; ErrNotFound if there is no such receiver.
	DeleteReceiver(ctx context.Context, id string) error

	// CreateStream inserts s. Its cursor is placed so that the stream
	// starts with the events that happened at or after replayFrom (a zero
	// replayFrom: with the next event). ErrConflict if s.ID exists;
	// ErrNotFound if its receiver does not.
	CreateStream(ctx context.Context, s Stream, replayFrom time.Time) error
	// Stream returns a stream; ErrNotFound if unknown.
	Stream(ctx context.Context, id string) (Stream, error)
	// Streams returns the streams of receiverID (of every receiver when
	// receiverID is ""), oldest first.
	Streams(ctx context.Context, receiverID string) ([]Stream, error)
	// UpdateStream writes s's configuration and status (everything but
	// ReceiverID, CreatedAt, Cursor and the lease). A stream that leaves
	// StreamDisabled starts at the newest event: nothing is held while it
	// is disabled. ErrNotFound if there is no such stream.
	UpdateStream(ctx context.Context, s Stream) error
	// DeleteStream deletes a stream and its own events; ErrNotFound if
	// unknown.
	DeleteStream(ctx context.Context, id string) error

	// AddStreamEvent records e, an event of one stream only (e.StreamID
	// set: a verification), with every field but Seq, after every event
	// committed before it. ErrNotFound if the stream does not exist.
	AddStreamEvent(ctx context.Context, e Event) error
	// StreamEvents returns, in Seq order, at most limit events after the
	// stream's cursor that the stream receives: events for every stream of
	// a kind in its Delivered, and its own events. ErrNotFound if the
	// stream does not exist.
	StreamEvents(ctx context.Context, streamID string, limit int) ([]Event, error)
	// AckEvents acknowledges the events with the given ids for the stream
	// and moves its cursor over every event it receives up to the first
	// one not acknowledged (events it does not receive are passed over).
	// Acknowledgements past that first gap are not kept: those events are
	// delivered again, which at-least-once delivery allows. Unknown ids
	// are ignored. ErrNotFound if the stream does not exist.
	AckEvents(ctx context.Context, streamID string, ids []string) error
	// FeedHead returns the Seq of the newest event (0 when there is none).
	FeedHead(ctx context.Context) (int64, error)
	// LeaseStream gives owner the right to push the stream until now+ttl if
	// no one else holds it past now, and reports whether owner holds it.
	// Calling it again renews the lease; a ttl <= 0 releases a lease owner
	// holds (and reports false). Concurrent callers, even on other
	// instances, never both hold one lease.
	LeaseStream(ctx context.Context, streamID, owner string, now time.Time, ttl time.Duration) (bool, error)
	// TouchStream records a sign of life from the stream's receiver at now
	// (SeenAt). ErrNotFound if the stream does not exist.
	TouchStream(ctx context.Context, streamID string, now time.Time) error
	// PurgeFeed deletes the events that happened strictly before
	// eventsBefore, and the streams (with their own events) whose receiver
	// was last seen strictly before unseenBefore (none when unseenBefore is
	// zero). It returns how many events and streams it deleted.
	PurgeFeed(ctx context.Context, eventsBefore, unseenBefore time.Time) (events, streams int64, err error)
	// Backlogs returns, for every enabled stream, the time of the oldest
	// event it receives that is not acknowledged, counting events the feed
	// has not yet ordered (given a Seq) as waiting. One read that changes
	// nothing and waits for no lock: the metrics read it at every scrape.
	Backlogs(ctx context.Context) ([]Backlog, error)
}

// Backlog is what Feed.Backlogs reports of one enabled stream.
type Backlog struct {
	StreamID string
	Receiver string // the receiver's name
	Push     bool
	// Oldest is when the oldest event the stream receives and has not had
	// acknowledged happened; zero when it is caught up.
	Oldest time.Time
}
