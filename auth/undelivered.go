package auth

import (
	"sync"
	"sync/atomic"
	"time"
)

// undelivered remembers the rotations this Service made, or may have made,
// without telling the client: the store answered that the outcome is in
// doubt (store.ErrInDoubt: the statement was sent and no verdict came back),
// or a step after the commit failed. The client then keeps its token and
// retries it, and the retry finds the session one generation ahead. Inside
// the reuse interval that is answered anyway; after it, without this
// record, it would be taken for a copied token and revoke the session: an
// innocent user signed out during an incident.
//
// A rotation is identified by what it wrote: the session, the generation
// presented, and the refresh time (the Service's clock reading, to the
// nanosecond), which the store keeps as LastRefreshedAt. A retry whose
// session shows exactly that write is answered with the session's current
// generation once, as inside the reuse interval; the record is then gone,
// so a second presentation of the same token is reuse again. Nobody else
// gains a grace: a stolen token still dies at its second use, and a
// superseded token whose rotation was delivered is judged as before.
//
// The record lives in this process only. A retry that reaches another
// instance is judged by the reuse interval alone (docs/security.md).
type undelivered struct {
	mu    sync.Mutex
	at    map[rotationKey]time.Time
	order []rotationKey // oldest first, for the cap
	n     atomic.Int32  // len(at), read without the lock
}

type rotationKey struct {
	session    string
	generation int64 // the generation presented (the rotation wrote generation+1)
}

// maxUndelivered bounds the records: an outage long enough to fill it has
// clients retrying within seconds anyway (Retry-After), and the oldest
// records go first.
const maxUndelivered = 4096

// add records that the rotation of session from generation, at refresh
// time at, may have committed without reaching its client.
func (u *undelivered) add(session string, generation int64, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.at == nil {
		u.at = make(map[rotationKey]time.Time)
	}
	k := rotationKey{session, generation}
	if _, ok := u.at[k]; !ok {
		u.order = append(u.order, k)
	}
	u.at[k] = at
	for len(u.at) > maxUndelivered && len(u.order) > 0 {
		delete(u.at, u.order[0])
		u.order = u.order[1:]
	}
	if len(u.order) > 2*maxUndelivered { // records taken since: drop their keys
		kept := u.order[:0]
		for _, k := range u.order {
			if _, ok := u.at[k]; ok {
				kept = append(kept, k)
			}
		}
		u.order = kept
	}
	u.n.Store(int32(len(u.at)))
}

// take reports whether the session's current state, at generation
// generation+1 refreshed at refreshedAt, is the write of a recorded
// rotation from generation, and forgets the record if so.
func (u *undelivered) take(session string, generation int64, refreshedAt time.Time) bool {
	if u.n.Load() == 0 {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	k := rotationKey{session, generation}
	at, ok := u.at[k]
	if !ok || !at.Equal(refreshedAt) {
		return false
	}
	delete(u.at, k)
	u.n.Store(int32(len(u.at)))
	return true
}
