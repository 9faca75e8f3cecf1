package ratelimit

import (
	"container/list"
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxKeys bounds a Memory limiter's table when MemoryOptions.MaxKeys
// is not set. An entry costs about 200 bytes, so the default costs at most
// some 20 MB however many addresses an attack comes from.
const DefaultMaxKeys = 100_000

// MemoryOptions configure NewMemory.
type MemoryOptions struct {
	// MaxKeys bounds the number of keys tracked (DefaultMaxKeys if not
	// positive).
	MaxKeys int
	// Now is the clock (time.Now if nil). Tests move it by hand.
	Now func() time.Time
}

// Memory is a Limiter that keeps a golang.org/x/time/rate token bucket per
// key in this process. With several instances behind a load balancer each
// enforces its own limits; a shared (Redis) Limiter is the way to enforce
// them together.
//
// The table is bounded. A key whose bucket is full again carries no
// information (it behaves exactly like a key never seen), so such keys are
// dropped first, least recently used first. Only when every tracked key is
// still limited is the least recently used one evicted even so: a flood of
// fresh keys can then make the oldest limited key forget its debt, which is
// the price of bounded memory (choose MaxKeys well above the number of keys
// limited at once in normal operation).
type Memory struct {
	maxKeys int
	now     func() time.Time

	mu   sync.Mutex
	keys map[string]*list.Element // of *entry
	lru  list.List                // front: most recently used
}

type entry struct {
	key   string
	limit Limit
	lim   *rate.Limiter
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns an empty in-memory Limiter.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{maxKeys: opts.MaxKeys, now: opts.Now, keys: make(map[string]*list.Element)}
	if m.maxKeys <= 0 {
		m.maxKeys = DefaultMaxKeys
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, l Limit) (bool, time.Duration, error) {
	if l.Unlimited() {
		return true, 0, nil
	}
	now := m.now()
	lim := m.limiter(key, l, now)
	if lim.AllowN(now, 1) {
		return true, 0, nil
	}
	return false, wait(lim, now), nil
}

// Check implements Limiter. It does not create an entry for a key it has
// not seen: such a key has its whole allowance.
func (m *Memory) Check(_ context.Context, key string, l Limit) (bool, time.Duration, error) {
	if l.Unlimited() {
		return true, 0, nil
	}
	now := m.now()
	m.mu.Lock()
	el, ok := m.keys[key]
	var lim *rate.Limiter
	if ok {
		e := el.Value.(*entry)
		m.update(e, l, now)
		lim = e.lim
	}
	m.mu.Unlock()
	if lim == nil || lim.TokensAt(now) >= 1 {
		return true, 0, nil
	}
	return false, wait(lim, now), nil
}

// Hit implements Limiter.
func (m *Memory) Hit(_ context.Context, key string, l Limit) error {
	if l.Unlimited() {
		return nil
	}
	now := m.now()
	lim := m.limiter(key, l, now)
	// ReserveN takes the token even if it is not there yet: the bucket
	// goes into debt (the reservation itself is not needed). The debt is
	// capped at one full allowance, so the longest wait is twice Per.
	if lim.TokensAt(now) > -float64(l.Count) {
		lim.ReserveN(now, 1)
	}
	return nil
}

// Len returns the number of keys tracked, for tests and metrics.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}

// limiter returns key's bucket, creating it (and making room) if needed.
func (m *Memory) limiter(key string, l Limit, now time.Time) *rate.Limiter {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.keys[key]; ok {
		m.lru.MoveToFront(el)
		e := el.Value.(*entry)
		m.update(e, l, now)
		return e.lim
	}
	if len(m.keys) >= m.maxKeys {
		m.makeRoom(now)
	}
	e := &entry{key: key, limit: l, lim: rate.NewLimiter(every(l), l.Count)}
	m.keys[key] = m.lru.PushFront(e)
	return e.lim
}

// update applies a changed Limit to an existing key (a setting changed, or
// two callers share a key with different limits: a caller's mistake, but
// not one that should panic).
func (m *Memory) update(e *entry, l Limit, now time.Time) {
	if e.limit == l {
		return
	}
	e.limit = l
	e.lim.SetLimitAt(now, every(l))
	e.lim.SetBurstAt(now, l.Count)
}

// makeRoom frees at least one slot. It first drops every full bucket among
// the least recently used keys it examines (a sweep bounded to a few dozen
// entries, so one insertion never costs a scan of the whole table), and
// evicts the least recently used key only if none of them was full.
func (m *Memory) makeRoom(now time.Time) {
	const scan = 64
	freed := false
	el := m.lru.Back()
	for i := 0; i < scan && el != nil; i++ {
		prev := el.Prev()
		e := el.Value.(*entry)
		if e.lim.TokensAt(now) >= float64(e.lim.Burst()) {
			m.remove(el)
			freed = true
		}
		el = prev
	}
	if !freed {
		m.remove(m.lru.Back())
	}
}

func (m *Memory) remove(el *list.Element) {
	delete(m.keys, el.Value.(*entry).key)
	m.lru.Remove(el)
}

// every converts a Limit to the token bucket's refill rate.
func every(l Limit) rate.Limit {
	return rate.Every(l.Per / time.Duration(l.Count))
}

// wait returns how long until lim has one whole token at now, rounded up to
// the next nanosecond so that waiting exactly that long always suffices.
func wait(lim *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - lim.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	secs := missing / float64(lim.Limit())
	if secs >= math.MaxInt64/float64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(math.Ceil(secs * float64(time.Second)))
}
