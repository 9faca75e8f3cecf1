package postgres

import (
	"strconv"

	"github.com/google/uuid"
)

// The outbox: every revocation records its security events (store.Feed) in
// the same statement or transaction as the revocation, so they commit
// together or not at all.
//
// feedLocked is a WHERE condition that takes the feed lock (feed.go) the
// first time it is evaluated, before the statement that holds it draws its
// first seq: an uncorrelated subquery runs once, and before any row it
// filters is inserted. It is always true.
var feedLocked = `(SELECT count(*) FROM (SELECT pg_advisory_xact_lock(` + strconv.Itoa(feedLock) + `, 0)) AS feed_lock) = 1`

// recordRevoked is the INSERT that follows a CTE named revoked (the id and
// user_id of every session a statement revoked) and records a
// session-revoked event for each; $reason, $txn and $at are placeholders of
// the caller's statement.
func recordRevoked(reason, txn, at string) string {
	return `INSERT INTO ssf_events (id, kind, session_id, user_id, reason, txn, at)
		SELECT gen_random_uuid()::text, 'session-revoked', id, user_id, ` + reason + `, ` + txn + `, ` + at + `
		FROM revoked WHERE ` + feedLocked
}

// txnOf returns txn, or a new one when it is empty.
func txnOf(txn string) string {
	if txn == "" {
		return uuid.NewString()
	}
	return txn
}
