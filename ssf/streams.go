package ssf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"unicode/utf8"

	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/store"
)

// The stream configuration endpoint (SSF 1.0 §8.1.1): a receiver creates,
// reads, updates, replaces and deletes its own streams.

// streamConfig is a stream's configuration as the API shows it.
type streamConfig struct {
	StreamID                string   `json:"stream_id"`
	Iss                     string   `json:"iss"`
	Aud                     string   `json:"aud"`
	Delivery                delivery `json:"delivery"`
	EventsSupported         []string `json:"events_supported"`
	EventsRequested         []string `json:"events_requested"`
	EventsDelivered         []string `json:"events_delivered"`
	Description             string   `json:"description,omitempty"`
	MinVerificationInterval int      `json:"min_verification_interval"`
	InactivityTimeout       int64    `json:"inactivity_timeout"`
}

type delivery struct {
	Method              string `json:"method"`
	EndpointURL         string `json:"endpoint_url"`
	AuthorizationHeader string `json:"authorization_header,omitempty"`
}

// streamRequest is a create, update or replace request. Pointers tell a
// member that is absent (or null) from one that is empty.
type streamRequest struct {
	StreamID                *string          `json:"stream_id"`
	Iss                     *string          `json:"iss"`
	Aud                     json.RawMessage  `json:"aud"`
	Delivery                *deliveryRequest `json:"delivery"`
	EventsSupported         *[]string        `json:"events_supported"`
	EventsRequested         *[]string        `json:"events_requested"`
	EventsDelivered         *[]string        `json:"events_delivered"`
	Description             *string          `json:"description"`
	MinVerificationInterval *int             `json:"min_verification_interval"`
	InactivityTimeout       *int64           `json:"inactivity_timeout"`
}

type deliveryRequest struct {
	Method              string  `json:"method"`
	EndpointURL         *string `json:"endpoint_url"`
	AuthorizationHeader *string `json:"authorization_header"`
}

// config returns s as the API shows it to its receiver rcv.
func (t *Transmitter) config(s store.Stream, rcv store.Receiver) streamConfig {
	c := streamConfig{StreamID: s.ID, Iss: t.o.Issuer, Aud: rcv.Audience, EventsSupported: eventsSupported(),
		EventsRequested: s.Requested, EventsDelivered: deliveredURIs(s.Delivered), Description: s.Description,
		MinVerificationInterval: int(minVerifyInterval.Seconds()), InactivityTimeout: int64(t.o.Inactivity.Seconds())}
	if c.EventsRequested == nil {
		c.EventsRequested = []string{}
	}
	if s.Push {
		c.Delivery = delivery{Method: MethodPush, EndpointURL: s.EndpointURL, AuthorizationHeader: s.Authorization}
	} else {
		c.Delivery = delivery{Method: MethodPoll, EndpointURL: t.pollURL(s.ID)}
	}
	return c
}

func (t *Transmitter) pollURL(streamID string) string { return t.o.Issuer + PathPoll + streamID }

// createStream is POST: a new stream of the caller's, 201 with its
// configuration. It starts with the events of the last access-token
// lifetime (plus leeway), so that a receiver that starts, or starts again
// with an empty memory, learns of every revocation whose tokens may still
// be in use.
func (t *Transmitter) createStream(w http.ResponseWriter, r *http.Request, rcv store.Receiver) error {
	var req streamRequest
	if err := httpapi.DecodeJSON(r, &req, httpapi.DecodeOptions{}); err != nil {
		return err
	}
	now := t.now().UTC()
	s := store.Stream{ID: newID(), ReceiverID: rcv.ID, Status: store.StreamEnabled, CreatedAt: now, UpdatedAt: now}
	if err := t.applyRequest(&s, req, true); err != nil {
		return err
	}
	tooMany := &httpapi.Error{Status: http.StatusConflict, Code: "conflict",
		Message: fmt.Sprintf("a receiver may have at most %d streams; delete one first", maxStreamsPerReceiver)}
	// Count and create one at a time here, and count again after: two
	// instances may still create at once, and then the one that finds the
	// limit passed takes its stream back.
	t.createMu.Lock()
	defer t.createMu.Unlock()
	existing, err := t.feed.Streams(r.Context(), rcv.ID)
	if err != nil {
		return storeErr(err)
	}
	if len(existing) >= maxStreamsPerReceiver {
		return tooMany
	}
	if err := t.feed.CreateStream(r.Context(), s, now.Add(-(t.o.AccessTTL + t.o.Leeway))); err != nil {
		return storeErr(err)
	}
	if after, err := t.feed.Streams(r.Context(), rcv.ID); err == nil && len(after) > maxStreamsPerReceiver {
		if err := t.feed.DeleteStream(context.WithoutCancel(r.Context()), s.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return storeErr(err)
		}
		return tooMany
	}
	t.push.poke()
	t.log.InfoContext(r.Context(), "audit", "event", "ssf.stream_created", "receiver", rcv.Name, "stream_id", s.ID, "push", s.Push)
	return httpapi.WriteJSON(w, http.StatusCreated, t.config(s, rcv))
}

// readStreams is GET: one stream with ?stream_id=, else the list of the
// caller's streams (SSF 1.0 §8.1.1.2).
func (t *Transmitter) readStreams(w http.ResponseWriter, r *http.Request, rcv store.Receiver) error {
	if id := r.URL.Query().Get("stream_id"); id != "" {
		s, err := t.ownStream(r.Context(), rcv, id)
		if err != nil {
			return err
		}
		return httpapi.WriteJSON(w, http.StatusOK, t.config(s, rcv))
	}
	list, err := t.feed.Streams(r.Context(), rcv.ID)
	if err != nil {
		return storeErr(err)
	}
	out := make([]streamConfig, len(list))
	for i, s := range list {
		out[i] = t.config(s, rcv)
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

// updateStream is PATCH: the receiver-supplied members present are changed,
// the others kept (SSF 1.0 §8.1.1.3).
func (t *Transmitter) updateStream(w http.ResponseWriter, r *http.Request, rcv store.Receiver) error {
	return t.changeStream(w, r, rcv, false)
}

// replaceStream is PUT: the whole receiver-supplied configuration is
// replaced; absent members go back to their defaults (SSF 1.0 §8.1.1.4).
func (t *Transmitter) replaceStream(w http.ResponseWriter, r *http.Request, rcv store.Receiver) error {
	return t.changeStream(w, r, rcv, true)
}

func (t *Transmitter) changeStream(w http.ResponseWriter, r *http.Request, rcv store.Receiver, replace bool) error {
	var req streamRequest
	if err := httpapi.DecodeJSON(r, &req, httpapi.DecodeOptions{}); err != nil {
		return err
	}
	if req.StreamID == nil {
		return badRequest("stream_id is required")
	}
	s, err := t.ownStream(r.Context(), rcv, *req.StreamID)
	if err != nil {
		return err
	}
	if err := t.checkSupplied(req, s, rcv); err != nil {
		return err
	}
	if replace {
		s.Push, s.EndpointURL, s.Authorization, s.Requested, s.Description = false, "", "", nil, ""
	}
	if err := t.applyRequest(&s, req, replace); err != nil {
		return err
	}
	s.UpdatedAt = t.now().UTC()
	if err := t.feed.UpdateStream(r.Context(), s); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound()
		}
		return storeErr(err)
	}
	t.push.poke()
	return httpapi.WriteJSON(w, http.StatusOK, t.config(s, rcv))
}

// deleteStream is DELETE ?stream_id=: 204.
func (t *Transmitter) deleteStream(w http.ResponseWriter, r *http.Request, rcv store.Receiver) error {
	s, err := t.ownStream(r.Context(), rcv, r.URL.Query().Get("stream_id"))
	if err != nil {
		return err
	}
	if err := t.feed.DeleteStream(r.Context(), s.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return storeErr(err)
	}
	t.push.poke()
	t.log.InfoContext(r.Context(), "audit", "event", "ssf.stream_deleted", "receiver", rcv.Name, "stream_id", s.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkSupplied refuses transmitter-supplied members that do not match
// (SSF 1.0 §8.1.1.3: they MAY be present but MUST match), judged against
// the stream before the change.
func (t *Transmitter) checkSupplied(req streamRequest, s store.Stream, rcv store.Receiver) error {
	mismatch := func(member string) error {
		return badRequest(member + " is set by the transmitter and does not match this stream's")
	}
	if req.Iss != nil && *req.Iss != t.o.Issuer {
		return mismatch("iss")
	}
	if len(req.Aud) > 0 && string(req.Aud) != "null" {
		var one string
		var many []string
		switch {
		case json.Unmarshal(req.Aud, &one) == nil:
			many = []string{one}
		case json.Unmarshal(req.Aud, &many) == nil:
		default:
			return badRequest("aud must be a string or an array of strings")
		}
		if len(many) != 1 || many[0] != rcv.Audience {
			return mismatch("aud")
		}
	}
	if req.EventsSupported != nil && !sameSet(*req.EventsSupported, eventsSupported()) {
		return mismatch("events_supported")
	}
	if req.EventsDelivered != nil && !sameSet(*req.EventsDelivered, deliveredURIs(s.Delivered)) {
		return mismatch("events_delivered")
	}
	if req.MinVerificationInterval != nil && *req.MinVerificationInterval != int(minVerifyInterval.Seconds()) {
		return mismatch("min_verification_interval")
	}
	if req.InactivityTimeout != nil && *req.InactivityTimeout != int64(t.o.Inactivity.Seconds()) {
		return mismatch("inactivity_timeout")
	}
	if d := req.Delivery; d != nil && d.Method == MethodPoll && d.EndpointURL != nil && *d.EndpointURL != t.pollURL(s.ID) {
		return mismatch("delivery.endpoint_url of a poll stream")
	}
	return nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// applyRequest writes the receiver-supplied members of req into s. With
// defaults (create, replace), absent members take their defaults: poll
// delivery, every supported event type, no description.
func (t *Transmitter) applyRequest(s *store.Stream, req streamRequest, defaults bool) error {
	if req.Delivery != nil {
		if err := t.applyDelivery(s, *req.Delivery); err != nil {
			return err
		}
	}
	switch {
	case req.EventsRequested != nil:
		reqd := *req.EventsRequested
		if len(reqd) > maxEventsRequested {
			return badRequest(fmt.Sprintf("events_requested has %d entries; at most %d are accepted", len(reqd), maxEventsRequested))
		}
		for _, u := range reqd {
			if u == "" || len(u) > maxURILength || !utf8.ValidString(u) {
				return badRequest("every events_requested entry must be a non-empty event type URI of at most 2048 bytes")
			}
		}
		s.Requested = slices.Clone(reqd)
	case defaults:
		s.Requested = eventsSupported()
	}
	s.Delivered = delivered(s.Requested)
	if req.Description != nil {
		s.Description = truncate(*req.Description, maxDescription)
	}
	return nil
}

// applyDelivery checks and applies a delivery object.
func (t *Transmitter) applyDelivery(s *store.Stream, d deliveryRequest) error {
	switch d.Method {
	case MethodPoll:
		if d.AuthorizationHeader != nil && *d.AuthorizationHeader != "" {
			return badRequest("delivery.authorization_header is for push delivery only")
		}
		s.Push, s.EndpointURL, s.Authorization = false, "", ""
	case MethodPush:
		if d.EndpointURL == nil || *d.EndpointURL == "" {
			return badRequest("push delivery needs delivery.endpoint_url")
		}
		if err := checkPushURL(*d.EndpointURL, t.o.AllowLoopback); err != nil {
			return badRequest("delivery.endpoint_url: " + err.Error())
		}
		auth := ""
		if d.AuthorizationHeader != nil {
			auth = *d.AuthorizationHeader
			if err := checkHeaderValue(auth); err != nil {
				return badRequest("delivery.authorization_header: " + err.Error())
			}
		}
		s.Push, s.EndpointURL, s.Authorization = true, *d.EndpointURL, auth
	case "":
		return badRequest("delivery.method is required")
	default:
		return badRequest("delivery.method " + httpapi.Quote(d.Method) + " is not supported: want " + MethodPush + " or " + MethodPoll)
	}
	return nil
}

// checkHeaderValue accepts a header value of visible ASCII and spaces: no
// control character can split it into a second header.
func checkHeaderValue(v string) error {
	if len(v) > maxHeaderLength {
		return fmt.Errorf("longer than %d bytes", maxHeaderLength)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' || c > '~' {
			return errors.New("only visible ASCII characters and spaces are allowed")
		}
	}
	return nil
}

// truncate shortens s to at most n bytes on a rune boundary (SSF 1.0
// §8.1.1: a transmitter MAY truncate a long description).
func truncate(s string, n int) string {
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // replaces invalid bytes
	}
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
