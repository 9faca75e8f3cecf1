package ssf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/store"
)

// Push delivery (RFC 8935). Each instance runs a pusher: every PushLease/4,
// or at once when a stream changes here, it lists the push streams and
// takes or renews the lease of every enabled one it can (store.Feed
// LeaseStream: one holder per stream across instances). For each stream it
// holds, a worker pushes the stream's events one by one, in order, and
// acknowledges those delivered. A worker stops pushing as soon as its lease
// is not certainly held any more; a killed instance's leases run out and
// another instance takes its streams over, pushing again what the dead one
// had not acknowledged (at least once). Pushes run in the background: no
// request ever waits for one.

// pushBatch is how many events a worker takes at a time.
const pushBatch = 100

type pusher struct {
	t       *Transmitter
	mu      sync.Mutex
	workers map[string]*pushWorker
	pokes   chan struct{}
	quit    chan struct{}
	done    chan struct{}
	runMu   sync.Mutex
	running bool
}

type pushWorker struct {
	streamID   string
	leaseUntil atomic.Int64 // Unix nanoseconds until which this instance holds the lease
	quit       chan struct{}
	done       chan struct{}
}

func newPusher(t *Transmitter) *pusher {
	return &pusher{t: t, workers: map[string]*pushWorker{}, pokes: make(chan struct{}, 1),
		quit: make(chan struct{}), done: make(chan struct{})}
}

// poke asks for the streams to be looked at now (one changed here).
func (p *pusher) poke() {
	select {
	case p.pokes <- struct{}{}:
	default:
	}
}

func (p *pusher) start() {
	p.runMu.Lock()
	defer p.runMu.Unlock()
	if !p.running {
		p.running = true
		go p.loop()
	}
}

// stop stops every worker and releases this instance's leases.
func (p *pusher) stop() {
	p.runMu.Lock()
	defer p.runMu.Unlock()
	if !p.running {
		return
	}
	p.running = false
	close(p.quit)
	<-p.done
}

func (p *pusher) loop() {
	defer close(p.done)
	every := max(p.t.o.PushLease/4, 10*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	p.manage()
	for {
		select {
		case <-p.quit:
			p.stopAll()
			return
		case <-tick.C:
		case <-p.pokes:
		}
		p.manage()
	}
}

// manage takes or renews the leases of the enabled push streams and starts
// or stops their workers.
func (p *pusher) manage() {
	t := p.t
	ctx, cancel := context.WithTimeout(context.Background(), max(t.o.PushLease/4, time.Second))
	defer cancel()
	streams, err := t.feed.Streams(ctx, "")
	if err != nil {
		t.log.Warn("ssf: cannot list streams to push", "err", err)
		return // workers stop by themselves when their leases run out
	}
	want := map[string]bool{}
	for _, s := range streams {
		if !s.Push || s.Status != store.StreamEnabled {
			continue
		}
		want[s.ID] = true
		now := t.now()
		if s.LeaseOwner != t.owner && now.Before(s.LeaseUntil) {
			p.stopWorker(s.ID, false) // another instance's, for now
			continue
		}
		// Ours, or free: take or renew it (every tick, so a worker always
		// has at least 3/4 of a lease left when renewal works).
		held, err := t.feed.LeaseStream(ctx, s.ID, t.owner, now, t.o.PushLease)
		if err != nil {
			t.log.Warn("ssf: cannot renew a push lease", "stream_id", s.ID, "err", err)
			continue
		}
		if !held {
			p.stopWorker(s.ID, false)
			continue
		}
		p.worker(s.ID).leaseUntil.Store(now.Add(t.o.PushLease).UnixNano())
		p.ping(ctx, s, now)
	}
	p.mu.Lock()
	var gone []string
	for id := range p.workers {
		if !want[id] {
			gone = append(gone, id)
		}
	}
	p.mu.Unlock()
	for _, id := range gone {
		p.stopWorker(id, true)
	}
}

// ping queues a verification event (initiated by the transmitter: no
// state, SSF 1.0 §8.1.4.2) on a push stream whose receiver has not been
// heard from for a quarter of Inactivity: its delivery shows the receiver
// alive (pushSome touches the stream), so a push receiver of a quiet
// system keeps its stream, while the stream of one that is gone stops
// being renewed and is purged.
func (p *pusher) ping(ctx context.Context, s store.Stream, now time.Time) {
	t := p.t
	quiet := t.o.Inactivity / 4
	if now.Sub(s.SeenAt) < quiet {
		return
	}
	t.mu.Lock()
	last, ok := t.lastPing[s.ID]
	due := !ok || now.Sub(last) >= quiet
	if due {
		t.lastPing[s.ID] = now
	}
	t.mu.Unlock()
	if !due {
		return
	}
	e := store.Event{ID: newID(), Kind: store.EventVerification, StreamID: s.ID, Txn: newID(), At: now.UTC()}
	if err := t.feed.AddStreamEvent(ctx, e); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.log.Warn("ssf: cannot queue a liveness verification", "stream_id", s.ID, "err", err)
	}
}

// worker returns the stream's worker, started if it was not running.
func (p *pusher) worker(id string) *pushWorker {
	p.mu.Lock()
	defer p.mu.Unlock()
	w, ok := p.workers[id]
	if !ok {
		w = &pushWorker{streamID: id, quit: make(chan struct{}), done: make(chan struct{})}
		p.workers[id] = w
		go p.run(w)
	}
	return w
}

// stopWorker stops the stream's worker, if any, and releases the lease when
// release is set.
func (p *pusher) stopWorker(id string, release bool) {
	p.mu.Lock()
	w, ok := p.workers[id]
	delete(p.workers, id)
	p.mu.Unlock()
	if ok {
		close(w.quit)
		<-w.done
	}
	if ok && release {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = p.t.feed.LeaseStream(ctx, id, p.t.owner, p.t.now(), 0)
		cancel()
	}
}

func (p *pusher) stopAll() {
	p.mu.Lock()
	ids := make([]string, 0, len(p.workers))
	for id := range p.workers {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	for _, id := range ids {
		p.stopWorker(id, true)
	}
}

// leased reports whether this instance still certainly holds the lease:
// with a margin of one push timeout (at most a quarter lease), so that a
// push under way ends before another instance may take over.
func (p *pusher) leased(w *pushWorker) bool {
	margin := p.t.o.PushTimeout
	return p.t.now().Add(margin).UnixNano() < w.leaseUntil.Load()
}

// run is a stream's worker: it pushes the stream's events in order while the
// lease is held, retrying a failed push with growing waits.
func (p *pusher) run(w *pushWorker) {
	defer close(w.done)
	t := p.t
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-w.quit
		cancel()
	}()
	var backoff time.Duration
	var failingSince time.Time
	idle := time.NewTicker(time.Second) // a lease, a stream change, an outage: look again now and then
	defer idle.Stop()
	for {
		change := t.watch.wait()
		delivered, err := p.pushSome(ctx, w)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if failingSince.IsZero() {
				failingSince = t.now()
				t.log.Warn("ssf: push failed; retrying with backoff", "stream_id", w.streamID, "err", err)
			}
			backoff = min(max(2*backoff, t.o.PushBackoff), t.o.PushBackoffMax)
			if !sleep(ctx, backoff) {
				return
			}
			continue
		case !failingSince.IsZero():
			t.log.Info("ssf: push works again", "stream_id", w.streamID, "failing_for", t.now().Sub(failingSince).String())
			failingSince, backoff = time.Time{}, 0
		}
		if delivered > 0 {
			continue // there may be more
		}
		select {
		case <-ctx.Done():
			return
		case <-change:
		case <-idle.C:
		}
	}
}

// pushSome pushes the next batch of the stream's events and acknowledges
// those delivered. It returns how many it delivered, and the error that
// stopped it early.
func (p *pusher) pushSome(ctx context.Context, w *pushWorker) (int, error) {
	t := p.t
	if !p.leased(w) {
		return 0, nil
	}
	s, err := t.feed.Stream(ctx, w.streamID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil // deleted: the manager stops this worker
	}
	if err != nil {
		return 0, err
	}
	if !s.Push || s.Status != store.StreamEnabled {
		return 0, nil
	}
	events, err := t.feed.StreamEvents(ctx, s.ID, pushBatch)
	if err != nil {
		return 0, err
	}
	if len(events) == 0 {
		t.passOver(ctx, s.ID)
		return 0, nil
	}
	aud, err := t.audience(ctx, s.ReceiverID)
	if err != nil {
		return 0, err
	}
	var done []string
	var pushErr error
	for _, e := range events {
		if !p.leased(w) {
			break
		}
		err := t.pushOne(ctx, s, e, aud)
		var rejected *rejectedError
		if errors.As(err, &rejected) {
			// The receiver refused this SET for good (RFC 8935 §2.4):
			// retrying the same SET cannot help, so it is passed over.
			t.log.Warn("ssf: a receiver refused a SET; it is not pushed again", "stream_id", s.ID, "jti", e.ID, "err", rejected.Error())
			err = nil
		}
		if err != nil {
			pushErr = err
			break
		}
		done = append(done, e.ID)
	}
	if len(done) > 0 {
		// The context of the worker may be ending; the acknowledgement of
		// what was delivered gets its own, so it is not lost for nothing.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err := t.feed.AckEvents(actx, s.ID, done)
		if err == nil {
			t.touch(actx, s.ID) // a delivered push: the receiver is alive
		}
		cancel()
		if err != nil && pushErr == nil {
			pushErr = err
		}
	}
	return len(done), pushErr
}

// audience returns the aud of a receiver's SETs.
func (t *Transmitter) audience(ctx context.Context, receiverID string) (string, error) {
	rs, err := t.feed.Receivers(ctx)
	if err != nil {
		return "", err
	}
	for _, r := range rs {
		if r.ID == receiverID {
			return r.Audience, nil
		}
	}
	return "", fmt.Errorf("ssf: the receiver of a stream is gone")
}

// rejectedError is a push the receiver answered 400 with an error that
// retrying will not cure.
type rejectedError struct{ code, description string }

func (e *rejectedError) Error() string {
	return httpapi.Quote(e.code) + ": " + httpapi.Quote(e.description)
}

// retryable are the RFC 8935 §2.4 errors that may go away by themselves: a
// receiver that has not fetched a rotated key yet, or a credential being
// changed.
var retryable = map[string]bool{"invalid_key": true, "authentication_failed": true, "access_denied": true}

// pushOne POSTs the SET of e to the stream's endpoint (RFC 8935 §2): a 2xx
// (202 Accepted) delivers it.
func (t *Transmitter) pushOne(ctx context.Context, s store.Stream, e store.Event, aud string) error {
	set, err := t.signSET(e, aud)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, t.o.PushTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.EndpointURL, strings.NewReader(set))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/secevent+jwt")
	req.Header.Set("Accept", "application/json")
	if s.Authorization != "" {
		req.Header.Set("Authorization", s.Authorization)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		// Not the *url.Error itself: it quotes the URL, whose query string
		// may hold the receiver's secret (a webhook token), into the log.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("push to the stream's endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	if resp.StatusCode == http.StatusBadRequest {
		var e struct {
			Err         string `json:"err"`
			Description string `json:"description"`
		}
		if json.Unmarshal(body, &e) == nil && e.Err != "" && !retryable[e.Err] {
			return &rejectedError{code: e.Err, description: e.Description}
		}
	}
	return fmt.Errorf("push to the stream's endpoint: status %d", resp.StatusCode)
}

// sleep waits d unless ctx ends first; it reports whether it waited.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
