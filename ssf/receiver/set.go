package receiver

import (
	"hash/maphash"
	"sync"
)

// revokedSet is the set of revoked session ids, each kept until a time
// after which every access token of the session has expired.
//
// A lookup hashes the id (maphash: no allocation), takes the read lock of
// one of 32 shards and reads one map. The shards keep requests on several
// CPUs from all writing the reader count of one shared lock: that cache line
// would bounce between cores on every request.
type revokedSet struct {
	seed   maphash.Seed
	shards [32]shard
}

type shard struct {
	mu    sync.RWMutex
	until map[string]int64 // session id -> Unix nanoseconds after which it may be forgotten
	queue []queued         // in the order added, to forget without scanning the map
	head  int
	_     [64]byte // keeps neighbouring shards' locks off one cache line
}

type queued struct {
	id    string
	until int64
}

func newRevokedSet() *revokedSet {
	s := &revokedSet{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].until = map[string]int64{}
	}
	return s
}

func (s *revokedSet) shard(id string) *shard {
	return &s.shards[maphash.String(s.seed, id)%uint64(len(s.shards))]
}

// has reports whether id is in the set.
func (s *revokedSet) has(id string) bool {
	sh := s.shard(id)
	sh.mu.RLock()
	_, ok := sh.until[id]
	sh.mu.RUnlock()
	return ok
}

// add puts id in the set until until (never shortening an entry), and
// forgets the entries of its shard whose time has passed at now. An entry
// whose time has already passed is not added: every token of that session
// has expired.
func (s *revokedSet) add(id string, until, now int64) {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old, ok := sh.until[id]; until > now && (!ok || until > old) {
		sh.until[id] = until
		sh.queue = append(sh.queue, queued{id, until})
	}
	sh.sweepLocked(now)
}

// sweep forgets the entries whose time has passed at now.
func (s *revokedSet) sweep(now int64) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.sweepLocked(now)
		sh.mu.Unlock()
	}
}

// sweepLocked pops the queue while its front has expired. Entries arrive
// roughly in time order; one that arrives out of order is only forgotten
// late, never early: the map's own time decides, so an entry extended by a
// later event stays.
func (sh *shard) sweepLocked(now int64) {
	for sh.head < len(sh.queue) && sh.queue[sh.head].until <= now {
		q := sh.queue[sh.head]
		if u, ok := sh.until[q.id]; ok && u <= now {
			delete(sh.until, q.id)
		}
		sh.queue[sh.head] = queued{}
		sh.head++
	}
	if sh.head > 1024 && sh.head > len(sh.queue)/2 {
		sh.queue = append(sh.queue[:0:0], sh.queue[sh.head:]...)
		sh.head = 0
	}
}

// len returns the number of sessions in the set.
func (s *revokedSet) len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += len(sh.until)
		sh.mu.RUnlock()
	}
	return n
}
