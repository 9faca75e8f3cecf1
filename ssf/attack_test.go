package ssf_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/ssf"
)

// Attacks on the transmitter's routes that the other tests do not cover.

// A poll waiting on a stream that is deleted meanwhile (the receiver's new
// process replaces its stream, an operator deletes the receiver, purge)
// answers 404 like any poll of a missing stream, never 500.
func TestPollOfAStreamDeletedWhileWaiting(t *testing.T) {
	e := newEnv(t, func(o *ssf.Options) { o.LongPoll = 20 * time.Second })
	c := e.createPoll()
	other := e.createPoll()
	type answer struct {
		status int
		body   string
	}
	done := make(chan answer, 1)
	go func() {
		status, b := e.do("POST", ssf.PathPoll+c.StreamID, e.cred, map[string]any{"returnImmediately": false})
		done <- answer{status, string(b)}
	}()
	// The poll has found its stream once the stream shows a sign of life.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := e.db.Stream(context.Background(), c.StreamID)
		if err != nil {
			t.Fatal(err)
		}
		if !s.SeenAt.Equal(s.CreatedAt) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the poll never reached its stream")
		}
		time.Sleep(5 * time.Millisecond) // polling for a real event, with a deadline
	}
	e.want(http.StatusNoContent, "DELETE", ssf.PathStream+"?stream_id="+c.StreamID, e.cred, nil, nil)
	e.addVerification(other.StreamID, "wake") // a new event wakes the waiting poll
	select {
	case a := <-done:
		if a.status != http.StatusNotFound {
			t.Errorf("a poll whose stream was deleted while it waited = %d %s; want 404", a.status, a.body)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the waiting poll did not return")
	}
}
