package dpop

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// ReplayCache remembers which jti each key used (RFC 9449 §11.1).
type ReplayCache interface {
	// Use marks jti used by the key of thumbprint jkt until the time given
	// (the end of the proof's acceptance window). A second Use of the same
	// pair before then returns an error that errors.Is ErrReplay; any other
	// error means the cache could not answer, and the proof must be refused.
	Use(ctx context.Context, jkt, jti string, until time.Time) error
}

// DefaultReplayMax is MemoryReplay's default bound.
const DefaultReplayMax = 100_000

// MemoryReplay is a ReplayCache in this process's memory, for one instance
// (several instances behind one load balancer need a shared cache, or a
// proof accepted by one can be replayed at another). It holds at most Max
// unexpired entries and drops expired ones as it goes; when full it refuses
// (ErrReplayCacheFull) rather than forget an entry early.
type MemoryReplay struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	seen    map[[32]byte]time.Time
	expires expiryHeap
}

// NewMemoryReplay returns a cache of at most max entries (DefaultReplayMax
// when max <= 0) on the clock now (time.Now when nil).
func NewMemoryReplay(max int, now func() time.Time) *MemoryReplay {
	if max <= 0 {
		max = DefaultReplayMax
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryReplay{max: max, now: now, seen: make(map[[32]byte]time.Time)}
}

// Use implements ReplayCache.
func (c *MemoryReplay) Use(_ context.Context, jkt, jti string, until time.Time) error {
	key := ReplayKey(jkt, jti)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.purge(now)
	if t, ok := c.seen[key]; ok && !now.After(t) {
		return fail(ReasonReplay, "")
	}
	if len(c.seen) >= c.max {
		return ErrReplayCacheFull
	}
	c.seen[key] = until
	heap.Push(&c.expires, expiry{key: key, until: until})
	return nil
}

// Len returns how many entries the cache holds (expired ones included until
// the next Use drops them).
func (c *MemoryReplay) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// purge drops the entries that expired before now.
func (c *MemoryReplay) purge(now time.Time) {
	for len(c.expires) > 0 && now.After(c.expires[0].until) {
		e := heap.Pop(&c.expires).(expiry)
		if t, ok := c.seen[e.key]; ok && t.Equal(e.until) {
			delete(c.seen, e.key)
		}
	}
}

// ReplayKey is the fixed-size key under which a replay cache may keep the
// pair (jkt, jti): SHA-256 of both, each length-prefixed so no two pairs
// share a key.
func ReplayKey(jkt, jti string) [32]byte {
	h := sha256.New()
	var n [2]byte
	for _, s := range []string{jkt, jti} {
		n[0], n[1] = byte(len(s)>>8), byte(len(s))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

type expiry struct {
	key   [32]byte
	until time.Time
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
