package latchkey

import (
	"sync"
	"time"
)

// flight runs a load of verification keys (a JWKS fetch, a reload of the
// signing keys from the store) at most once at a time, outside any lock its
// callers hold, and spaces the attempts: every attempt, successful or not,
// counts, and consecutive failures double the wait (up to maxGap). Callers
// that need the result wait for the attempt under way; the others are not
// held up by it.
type flight struct {
	now    func() time.Time
	minGap time.Duration // least time between the starts of two attempts
	maxGap time.Duration // the most the wait grows to after failures
	// run is one attempt, started at started (by now); it bounds itself.
	run func(started time.Time) error

	mu        sync.Mutex
	attempted time.Time     // start of the last attempt; zero before the first
	failures  int           // consecutive failed attempts
	err       error         // the last finished attempt's error
	done      chan struct{} // closed when the running attempt ends; nil when none runs
}

// start begins an attempt in the background if none is running and one is
// due, and returns a channel closed when the running attempt ends; nil when
// no attempt is running and none is due yet.
func (f *flight) start() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done != nil {
		return f.done
	}
	now := f.now()
	// A clock that stepped back makes an attempt due rather than none for
	// as long as the step.
	if !f.attempted.IsZero() && !now.Before(f.attempted) && now.Sub(f.attempted) < f.gap() {
		return nil
	}
	f.attempted = now
	done := make(chan struct{})
	f.done = done
	go func() {
		err := f.run(now)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.err = err
		if err != nil {
			f.failures++
		} else {
			f.failures = 0
		}
		f.done = nil
		close(done)
	}()
	return done
}

// gap is the wait after the last attempt: minGap, doubled for each
// consecutive failure after the first, at most maxGap.
func (f *flight) gap() time.Duration {
	g := f.minGap
	for i := 1; i < f.failures && g < f.maxGap; i++ {
		g *= 2
	}
	return min(g, max(f.maxGap, f.minGap))
}

// lastErr is the error of the last attempt that finished (nil if it
// succeeded or none has).
func (f *flight) lastErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
