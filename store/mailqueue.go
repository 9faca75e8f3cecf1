package store

import (
	"context"
	"time"
)

// Mail is a message in the durable mail queue. The store does not read
// Payload: it is the message sealed by the mail package (encrypted with a
// key that is not in the database, because it carries a token whose hash
// alone is stored).
type Mail struct {
	ID      string
	Kind    string // what it is, for logs and metrics: a TokenKind
	Payload []byte
	// CreatedAt is when it was queued; NotAfter is when it stops being
	// worth sending (the link it carries expires) and is given up.
	CreatedAt time.Time
	NotAfter  time.Time

	// Set by the store; ignored by IssueToken and EnqueueMail.

	// Attempts counts the failed attempts so far; NextAttemptAt is when the
	// next may start (CreatedAt at first); LastError is why the last failed.
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	// LeaseOwner may send the message until LeaseUntil (LeaseMail).
	LeaseOwner string
	LeaseUntil time.Time
}

// MailStats describe the queue for metrics.
type MailStats struct {
	Queued int
	// Oldest is the CreatedAt of the oldest queued message; zero when the
	// queue is empty.
	Oldest time.Time
}

// MailQueue is the durable queue the mail sender works from: messages are
// queued in the transactions that create what they carry (IssueToken), and
// each instance's sender leases due messages, so that N instances send each
// message once, and a message leased by an instance that died is sent by
// another once its lease has passed. store/storetest.RunCredentials is its
// conformance suite.
type MailQueue interface {
	// EnqueueMail queues m, due at m.CreatedAt. ErrConflict if m.ID exists.
	EnqueueMail(ctx context.Context, m Mail) error
	// LeaseMail leases to owner, until now+lease, up to limit messages that
	// are due at now (NextAttemptAt not after now) and not leased at now
	// (LeaseUntil not after now), oldest first, and returns them as leased.
	// Concurrent callers (even on other instances) never lease one message
	// to two owners at once.
	LeaseMail(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Mail, error)
	// FinishMail deletes the message: sent, or given up. ErrStale, and no
	// change, when owner does not hold its lease at now any more (another
	// owner may have leased it since).
	FinishMail(ctx context.Context, id, owner string, now time.Time) error
	// RetryMail records a failed attempt: Attempts+1, LastError, next
	// attempt at, lease released. ErrStale as for FinishMail.
	RetryMail(ctx context.Context, id, owner string, now, at time.Time, lastError string) error
	// MailStats returns the queue's size and its oldest message's age.
	MailStats(ctx context.Context) (MailStats, error)
}
