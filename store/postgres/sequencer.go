package postgres

import (
	"context"
	"sync"
)

// sequencer runs this instance's feed sequencer (sequenceOnce) one run at a
// time, and lets the callers that arrive meanwhile share the next run.
//
// Every reader of the feed numbers it first (StreamEvents, AckEvents,
// FeedHead, CreateStream, UpdateStream), and a run waits for the feed lock,
// which one instance at a time holds. Were each reader to run its own, a
// slow or stuck lock holder elsewhere would make every waiting poll of this
// instance hold a pooled connection while it waits, until sign-ins and
// refreshes found none. With one run at a time, at most one connection
// waits; the callers wait without one.
//
// A caller still sees every event that committed before its call: it joins
// a run that has not started yet, never one already under way.
type sequencer struct {
	mu      sync.Mutex
	running bool    // a goroutine is running sequencer runs
	next    *seqRun // the run that starts once the current one ends
}

type seqRun struct {
	done chan struct{}
	err  error
}

// sequence numbers the events that committed before the call, in a run of
// its own or one shared with other callers. It returns when that run has
// ended or ctx has.
func (db *DB) sequence(ctx context.Context) error {
	s := &db.seq
	s.mu.Lock()
	run := s.next
	if run == nil {
		run = &seqRun{done: make(chan struct{})}
		s.next = run
		if !s.running {
			s.running = true
			go db.sequenceRuns()
		}
	}
	s.mu.Unlock()
	select {
	case <-run.done:
		return run.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sequenceRuns runs the waiting runs one after another until none is left.
// A run is bounded by QueryTimeout, not by the callers, who may leave.
func (db *DB) sequenceRuns() {
	s := &db.seq
	for {
		s.mu.Lock()
		run := s.next
		s.next = nil
		if run == nil {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		ctx, cancel := db.bound(context.Background())
		run.err = db.sequenceOnce(ctx)
		cancel()
		close(run.done)
	}
}
