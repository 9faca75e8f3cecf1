package postgres

import (
	"github.com/google/uuid"
)

// The outbox: every revocation records its security events (store.Feed) in
// the same statement or transaction as the revocation, so they commit
// together or not at all. The events are inserted without a seq, so
// revocations never wait for each other; sequence (feed.go) numbers them
// once they have committed.

// recordRevoked is the INSERT that follows a CTE named revoked (the id and
// user_id of every session a statement revoked) and records a
// session-revoked event for each; reason, txn and at are expressions of the
// caller's statement (placeholders).
func recordRevoked(reason, txn, at string) string {
	return `INSERT INTO ssf_events (id, kind, session_id, user_id, reason, txn, at)
		SELECT gen_random_uuid()::text, 'session-revoked', id, user_id, ` + reason + `, ` + txn + `, ` + at + `
		FROM revoked`
}

// txnOf returns txn, or a new one when it is empty.
func txnOf(txn string) string {
	if txn == "" {
		return uuid.NewString()
	}
	return txn
}
