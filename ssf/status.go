package ssf

import (
	"errors"
	"net/http"
	"time"

	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/store"
)

// statusBody is a stream's status (SSF 1.0 §8.1.2).
type statusBody struct {
	StreamID string `json:"stream_id"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
}

// readStatus is GET ?stream_id=.
func (t *Transmitter) readStatus(w http.ResponseWriter, r *http.Request, rcv store.Receiver) error {
	s, err := t.ownStream(r.Context(), rcv, r.URL.Query().Get("stream_id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, statusBody{StreamID: s.ID, Status: string(s.Status), Reason: s.StatusReason})
}

// updateStatus is POST {stream_id, status, reason}: enabled delivers,
// paused holds the events for later, disabled drops them (SSF 1.0
// §8.1.2.1).
func (t *Transmitter) updateStatus(w http.ResponseWriter, r *http.Request, rcv store.Receiver) error {
	var req struct {
		StreamID string  `json:"stream_id"`
		Status   string  `json:"status"`
		Reason   *string `json:"reason"`
	}
	if err := httpapi.DecodeJSON(r, &req, httpapi.DecodeOptions{}); err != nil {
		return err
	}
	st := store.StreamStatus(req.Status)
	if st != store.StreamEnabled && st != store.StreamPaused && st != store.StreamDisabled {
		return badRequest(`status must be "enabled", "paused" or "disabled"`)
	}
	s, err := t.ownStream(r.Context(), rcv, req.StreamID)
	if err != nil {
		return err
	}
	s.Status, s.StatusReason, s.UpdatedAt = st, "", t.now().UTC()
	if req.Reason != nil {
		s.StatusReason = truncate(*req.Reason, maxDescription)
	}
	if err := t.feed.UpdateStream(r.Context(), s); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound()
		}
		return storeErr(err)
	}
	t.push.poke()
	t.log.InfoContext(r.Context(), "audit", "event", "ssf.stream_status", "receiver", rcv.Name, "stream_id", s.ID, "status", string(st))
	return httpapi.WriteJSON(w, http.StatusOK, statusBody{StreamID: s.ID, Status: string(s.Status), Reason: s.StatusReason})
}

// verify is POST {stream_id, state}: a verification event is queued on the
// stream, behind the events already waiting, and 204 answers at once (SSF
// 1.0 §8.1.4.2). Requests closer together than min_verification_interval
// are 429.
func (t *Transmitter) verify(w http.ResponseWriter, r *http.Request, rcv store.Receiver) error {
	var req struct {
		StreamID string `json:"stream_id"`
		State    string `json:"state"`
	}
	if err := httpapi.DecodeJSON(r, &req, httpapi.DecodeOptions{}); err != nil {
		return err
	}
	if len(req.State) > maxState {
		return badRequest("state is longer than 1024 bytes")
	}
	s, err := t.ownStream(r.Context(), rcv, req.StreamID)
	if err != nil {
		return err
	}
	now := t.now().UTC()
	if wait := t.verifyWait(s.ID, now); wait > 0 {
		h := http.Header{}
		httpapi.WriteRetryAfter(h, wait)
		return &httpapi.Error{Status: http.StatusTooManyRequests, Code: "too_many_requests",
			Message: "verification was requested less than min_verification_interval ago", Header: h}
	}
	e := store.Event{ID: newID(), Kind: store.EventVerification, StreamID: s.ID, State: req.State, Txn: newID(), At: now}
	if err := t.feed.AddStreamEvent(r.Context(), e); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound()
		}
		return storeErr(err)
	}
	t.watch.poke()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// verifyWait returns how long the stream must wait before its next
// verification request (0: now is fine, and now is recorded). The record is
// this instance's: with N instances a receiver may get N in an interval.
func (t *Transmitter) verifyWait(streamID string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.lastVerify[streamID]; ok && now.Sub(last) < minVerifyInterval {
		return minVerifyInterval - now.Sub(last)
	}
	if len(t.lastVerify) > 10_000 { // forget old entries rather than grow
		for id, at := range t.lastVerify {
			if now.Sub(at) >= minVerifyInterval {
				delete(t.lastVerify, id)
			}
		}
	}
	t.lastVerify[streamID] = now
	return 0
}
