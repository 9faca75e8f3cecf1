package sqlite

import (
	"github.com/google/uuid"
	"github.com/ncruces/go-sqlite3"

	"github.com/latchkey-dev/latchkey/store"
)

// The outbox: every revocation records its security events (store.Feed) in
// its own write of the group commit, so the events commit with it or not at
// all, and a crash loses neither without the other. The single writer
// commits in seq order.

const insertEvent = `INSERT INTO ssf_events (id, kind, session_id, user_id, reason, txn, at) VALUES (?, ?, ?, ?, ?, ?, ?)`

// revokeRecorded runs query, a revocation that returns the id and user id of
// every session it revoked, and records a session-revoked event for each,
// with reason, txn and the time at (Unix nanoseconds). It returns how many
// sessions it revoked.
func revokeRecorded(t *wtx, query string, args []any, reason, txn string, at any) (int64, error) {
	type revoked struct{ id, user string }
	var rs []revoked
	if err := t.rows(query, args, func(st *sqlite3.Stmt) error {
		rs = append(rs, revoked{st.ColumnText(0), st.ColumnText(1)})
		return nil
	}); err != nil {
		return 0, err
	}
	for _, r := range rs {
		if err := recordEvent(t, store.EventSessionRevoked, r.id, r.user, reason, txn, at); err != nil {
			return 0, err
		}
	}
	return int64(len(rs)), nil
}

// recordEvent records one event for every stream.
func recordEvent(t *wtx, kind store.EventKind, sessionID, userID, reason, txn string, at any) error {
	_, err := t.exec(insertEvent, uuid.NewString(), string(kind), sessionID, userID, reason, txn, at)
	return err
}

// txnOf returns txn, or a new one when it is empty.
func txnOf(txn string) string {
	if txn == "" {
		return uuid.NewString()
	}
	return txn
}
