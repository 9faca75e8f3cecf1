package ssf

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/store"
)

// pollRequest is an RFC 8936 §2.1 poll: it acknowledges what the receiver
// has processed (ack, setErrs) and asks for more.
type pollRequest struct {
	MaxEvents         *int              `json:"maxEvents"`
	ReturnImmediately bool              `json:"returnImmediately"`
	Ack               []string          `json:"ack"`
	SetErrs           map[string]setErr `json:"setErrs"`
}

// maxLoggedSetErrs is how many of one poll's setErrs reports are logged one
// by one.
const maxLoggedSetErrs = 10

// setErr is an RFC 8936 §2.4.4 error report on one SET.
type setErr struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

// pollResponse is RFC 8936 §2.5.
type pollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// poll is POST /ssf/poll/{stream_id}. Acknowledged SETs and SETs reported in
// setErrs are done with (a SET that failed to process will not process
// better the next time; the error is logged); the next events are returned
// in order, at most maxEvents (default 100, at most 1000; 0 only
// acknowledges). With returnImmediately false and nothing to deliver, the
// request waits, at most SSF_LONG_POLL, for an event. Events returned but
// not acknowledged come again in a later poll.
func (t *Transmitter) poll(w http.ResponseWriter, r *http.Request, rcv store.Receiver) error {
	var req pollRequest
	if r.ContentLength != 0 {
		if err := httpapi.DecodeJSON(r, &req, httpapi.DecodeOptions{}); err != nil {
			return err
		}
	}
	s, err := t.ownStream(r.Context(), rcv, r.PathValue("stream_id"))
	if err != nil {
		return err
	}
	if s.Push {
		return badRequest("this stream is delivered by push (" + MethodPush + "), not by polling")
	}
	if n := len(req.Ack) + len(req.SetErrs); n > maxAcks {
		return badRequest(fmt.Sprintf("ack and setErrs name %d SETs; at most %d are accepted in one poll", n, maxAcks))
	}
	max := defaultPollEvents
	if req.MaxEvents != nil {
		if *req.MaxEvents < 0 {
			return badRequest("maxEvents must not be negative")
		}
		max = min(*req.MaxEvents, maxPollEvents)
	}
	if err := t.acknowledge(r, s, rcv, req); err != nil {
		return err
	}
	resp := pollResponse{Sets: map[string]string{}}
	if max == 0 || s.Status != store.StreamEnabled {
		return httpapi.WriteJSON(w, http.StatusOK, resp)
	}
	events, err := t.waitForEvents(r, s.ID, max+1, !req.ReturnImmediately)
	if err != nil {
		return err
	}
	if len(events) > max {
		events, resp.MoreAvailable = events[:max], true
	}
	for _, e := range events {
		set, err := t.signSET(e, rcv.Audience)
		if err != nil {
			return err
		}
		resp.Sets[e.ID] = set
	}
	return httpapi.WriteJSON(w, http.StatusOK, resp)
}

// acknowledge applies a poll's ack and setErrs.
func (t *Transmitter) acknowledge(r *http.Request, s store.Stream, rcv store.Receiver, req pollRequest) error {
	ids := make([]string, 0, len(req.Ack)+len(req.SetErrs))
	for _, id := range req.Ack {
		if id == "" || len(id) > 128 {
			return badRequest("every ack entry must be a jti of at most 128 characters")
		}
		ids = append(ids, id)
	}
	logged := 0
	for id, e := range req.SetErrs {
		if id == "" || len(id) > 128 {
			return badRequest("every setErrs key must be a jti of at most 128 characters")
		}
		ids = append(ids, id)
		// A few reports a poll, then a count: a receiver must not be able
		// to write a thousand log lines with one request.
		if logged < maxLoggedSetErrs {
			logged++
			t.log.WarnContext(r.Context(), "ssf: a receiver could not process a SET", "receiver", rcv.Name, "stream_id", s.ID,
				"jti", httpapi.Quote(id), "err", httpapi.Quote(e.Err), "description", httpapi.Quote(e.Description))
		}
	}
	if more := len(req.SetErrs) - logged; more > 0 {
		t.log.WarnContext(r.Context(), "ssf: a receiver could not process more SETs", "receiver", rcv.Name, "stream_id", s.ID,
			"not_logged", more)
	}
	if len(ids) == 0 {
		return nil
	}
	if err := t.feed.AckEvents(r.Context(), s.ID, ids); err != nil {
		return streamErr(err)
	}
	return nil
}

// waitForEvents returns up to n of the stream's events; when there are none
// and wait is set, it waits for new events in the store, at most LongPoll,
// and returns what there is then (maybe nothing).
func (t *Transmitter) waitForEvents(r *http.Request, streamID string, n int, wait bool) ([]store.Event, error) {
	var deadline <-chan time.Time
	for {
		change := t.watch.wait()
		events, err := t.feed.StreamEvents(r.Context(), streamID, n)
		if err != nil {
			return nil, streamErr(err)
		}
		if len(events) == 0 {
			t.passOver(r.Context(), streamID)
		}
		if len(events) > 0 || !wait {
			return events, nil
		}
		if deadline == nil {
			if !t.startWaiting(streamID) {
				h := http.Header{}
				httpapi.WriteRetryAfter(h, time.Second)
				return nil, &httpapi.Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Header: h,
					Message: fmt.Sprintf("%d polls already wait on this stream", maxWaitingPolls)}
			}
			defer t.stopWaiting(streamID)
			timer := time.NewTimer(t.o.LongPoll)
			defer timer.Stop()
			deadline = timer.C
		}
		select {
		case <-change:
		case <-deadline:
			return nil, nil
		case <-t.draining:
			return nil, nil
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
}

// streamErr is storeErr for a call on a stream found moments before: the
// stream may have been deleted since (its receiver replaced it, the
// operator deleted the receiver, purge), which is 404 like a stream that
// was never there.
func streamErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound()
	}
	return storeErr(err)
}

// maxWaitingPolls bounds the polls that wait on one stream at once (on this
// instance): each holds a connection and reads the store at every new
// event, and a receiver needs one.
const maxWaitingPolls = 4

// startWaiting counts a poll that starts waiting on the stream, unless
// maxWaitingPolls already do; stopWaiting counts it out.
func (t *Transmitter) startWaiting(streamID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.waiting[streamID] >= maxWaitingPolls {
		return false
	}
	t.waiting[streamID]++
	return true
}

func (t *Transmitter) stopWaiting(streamID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.waiting[streamID]--; t.waiting[streamID] <= 0 {
		delete(t.waiting, streamID)
	}
}

// passOverAfter is how far behind the feed's head a stream with nothing to
// deliver may be before passOver moves it.
const passOverAfter = 512

// passOver moves the cursor of a stream that has nothing to deliver over
// the events it does not receive (AckEvents with no ids), when they are
// more than passOverAfter: else a stream that receives few of the feed's events
// (credential-change only; its own only) reads every event since its last
// acknowledgement again at every poll, every wake of a waiting poll and
// every push round. A failure is only logged: the next one tries again.
func (t *Transmitter) passOver(ctx context.Context, streamID string) {
	s, err := t.feed.Stream(ctx, streamID)
	if err != nil || t.watch.seen()-s.Cursor <= passOverAfter {
		return
	}
	if err := t.feed.AckEvents(ctx, streamID, nil); err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
		t.log.WarnContext(ctx, "ssf: cannot move a stream past the events it does not receive", "stream_id", streamID, "err", err)
	}
}
