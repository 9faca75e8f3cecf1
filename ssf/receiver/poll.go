package receiver

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// pollBatch is how many SETs one poll asks for. The next poll acknowledges
// or reports every one of them, and must fit in the transmitter's 64 KiB
// limit on a request body even when all were refused: 100 reports of a jti
// (at most 128 bytes) and a plain description of at most maxErrDescription
// are under 40 KiB. (Reporting only some would not do: the SETs come as a JSON
// object, in no order, and the transmitter moves a stream's cursor only
// over an unbroken run of acknowledged SETs.)
const (
	pollBatch         = 100
	maxErrDescription = 200
)

// run is the receiver's background loop: (re)creating the stream when it
// has none, then polling (or, with push, checking now and then that the
// stream still exists), and forgetting expired sessions.
func (r *Receiver) run() {
	defer close(r.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-r.quit
		cancel()
	}()
	backoff := time.Duration(0)
	failed := func(what string, err error) {
		if backoff == 0 {
			r.log.Warn("latchkey receiver: "+what+" failed; the revoked sessions known so far stay enforced, retrying", "err", err)
		}
		backoff = min(max(2*backoff, r.o.PollInterval), time.Minute)
	}
	sweep := time.Now()
	for {
		wait := r.o.PollInterval
		r.mu.Lock()
		haveStream := r.stream.id != ""
		r.mu.Unlock()
		switch {
		case !haveStream:
			if err := r.bootstrap(ctx); err != nil {
				failed("creating the stream", err)
				r.mu.Lock()
				r.stream = streamInfo{}
				r.mu.Unlock()
				wait = backoff
				break
			}
			backoff = 0
			continue
		case r.o.PushURL != "":
			wait = r.heartbeatInterval()
			if err := r.heartbeat(ctx); err != nil {
				failed("checking the push stream", err)
				wait = backoff
			} else {
				backoff = 0
			}
		default:
			more, err := r.pollOnce(ctx, pollBatch)
			if err != nil {
				failed("polling", err)
				wait = backoff
				break
			}
			if backoff > 0 {
				r.log.Info("latchkey receiver: polling works again")
			}
			backoff = 0
			if more {
				wait = 0
			}
		}
		if time.Since(sweep) > 10*time.Second {
			r.set.sweep(r.now().UnixNano())
			sweep = time.Now()
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		} else if ctx.Err() != nil {
			return
		}
	}
}

// errNoStream is a stream the transmitter no longer has (deleted by an
// operator, or purged as inactive): the receiver makes a new one.
var errNoStream = errors.New("receiver: the stream is gone")

// pollOnce polls once (RFC 8936 §2.4): it sends the acknowledgements (and
// error reports) of what was applied since the last poll, verifies and
// applies the SETs it gets, and reports whether more are waiting. A SET
// whose key is not known (yet) is neither acknowledged nor reported: it is
// delivered again, once the key can be fetched. maxEvents 0 only
// acknowledges.
func (r *Receiver) pollOnce(ctx context.Context, maxEvents int) (bool, error) {
	r.mu.Lock()
	s := r.stream
	acks := append([]string(nil), r.acks...)
	errs := maps.Clone(r.errs)
	r.mu.Unlock()
	if s.id == "" {
		return false, errNoStream
	}
	body := map[string]any{"ack": acks, "maxEvents": maxEvents, "returnImmediately": true}
	if len(errs) > 0 {
		body["setErrs"] = errs
	}
	var resp struct {
		Sets          map[string]string `json:"sets"`
		MoreAvailable bool              `json:"moreAvailable"`
	}
	status, err := r.call(ctx, http.MethodPost, s.pollURL, body, &resp)
	if status == http.StatusNotFound {
		r.lostStream(s.id)
		return false, errNoStream
	}
	if err != nil {
		return false, err
	}
	r.mu.Lock()
	r.acks = r.acks[len(acks):]
	for id := range errs {
		delete(r.errs, id)
	}
	r.mu.Unlock()
	var unknownKey error
	states := map[string]string{} // jti -> state of the verification SETs: ready once the whole poll is applied
	for jti, set := range resp.Sets {
		v, err := r.verify(ctx, set, s.aud)
		if err == nil && v.jti != jti {
			err = invalid("invalid_request", "the SET's jti is not the one it was delivered under")
		}
		if err == nil {
			var state string
			if state, err = r.apply(v); err == nil && state != "" {
				states[jti] = state
			}
		}
		r.mu.Lock()
		switch {
		case err == nil:
			r.acks = append(r.acks, jti)
		case setErrCode(err) == "invalid_key":
			unknownKey = err
		default:
			r.errs[jti] = pollSetErr{Err: setErrCode(err), Description: plain(err.Error(), maxErrDescription)}
			r.log.Warn("latchkey receiver: a SET was refused", "jti", jti, "err", err)
		}
		r.mu.Unlock()
	}
	if unknownKey != nil {
		// A SET of this poll waits for its key and comes again. So must
		// its verification SETs, unacknowledged: readiness waits until the
		// whole poll can be applied.
		r.mu.Lock()
		r.acks = slices.DeleteFunc(r.acks, func(jti string) bool { _, ok := states[jti]; return ok })
		r.mu.Unlock()
		return false, unknownKey
	}
	for _, state := range states {
		r.verified(state)
	}
	return resp.MoreAvailable, nil
}

// plain returns s as at most n bytes of printable ASCII that JSON encodes
// as it is (other characters become '?'), so that a report's encoded size
// is known.
func plain(s string, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for _, c := range s {
		if len(b) == n {
			break
		}
		if c < ' ' || c > '~' || strings.ContainsRune(`"\<>&`, c) {
			c = '?'
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// lostStream forgets the stream id, if it is still the current one, so
// that run makes a new stream.
func (r *Receiver) lostStream(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stream.id == id {
		r.log.Warn("latchkey receiver: the stream is gone; making a new one", "stream_id", id)
		r.stream = streamInfo{}
	}
}

// heartbeatInterval is how often a push receiver shows it is alive, well
// within the stream's inactivity timeout.
func (r *Receiver) heartbeatInterval() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := time.Hour
	if t := r.stream.inactivityTimeout / 4; t > 0 && t < d {
		d = t
	}
	return max(d, time.Second)
}

// heartbeat reads the push stream's status: it tells the transmitter the
// receiver is alive, and the receiver whether its stream still exists.
func (r *Receiver) heartbeat(ctx context.Context) error {
	r.mu.Lock()
	s := r.stream
	r.mu.Unlock()
	status, err := r.call(ctx, http.MethodGet, r.meta.StatusEndpoint+"?stream_id="+url.QueryEscape(s.id), nil, nil)
	if status == http.StatusNotFound {
		r.lostStream(s.id)
		return errNoStream
	}
	return err
}
