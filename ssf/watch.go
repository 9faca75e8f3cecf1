package ssf

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// watcher looks for new events in the store, every interval and when poked,
// and wakes whoever waits for them: the push workers and the polls that
// asked to wait. One query per interval per instance, however many wait.
// Events written by other instances and by other processes (latchkey user
// deactivate) are seen within an interval.
type watcher struct {
	feed  store.Feed
	every time.Duration
	log   *slog.Logger

	mu     sync.Mutex
	head   int64
	change chan struct{} // closed at the next change of head

	pokes   chan struct{}
	quit    chan struct{}
	done    chan struct{}
	startMu sync.Mutex
	running bool
}

func newWatcher(feed store.Feed, every time.Duration, log *slog.Logger) *watcher {
	return &watcher{feed: feed, every: every, log: log, change: make(chan struct{}),
		pokes: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
}

// wait returns a channel that is closed when the store has events newer than
// any seen so far. Take it before looking at the store, then wait on it.
func (w *watcher) wait() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.change
}

// seen returns the newest event's seq the watcher has seen (0 before it
// has looked).
func (w *watcher) seen() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.head
}

// poke asks for a look at the store now (an event was just written here).
func (w *watcher) poke() {
	select {
	case w.pokes <- struct{}{}:
	default:
	}
}

func (w *watcher) start() {
	w.startMu.Lock()
	defer w.startMu.Unlock()
	if w.running {
		return
	}
	w.running = true
	go w.loop()
}

func (w *watcher) stop() {
	w.startMu.Lock()
	defer w.startMu.Unlock()
	if !w.running {
		return
	}
	w.running = false
	close(w.quit)
	<-w.done
}

func (w *watcher) loop() {
	defer close(w.done)
	t := time.NewTicker(w.every)
	defer t.Stop()
	var lastErr time.Time
	for {
		select {
		case <-w.quit:
			return
		case <-t.C:
		case <-w.pokes:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(w.every, time.Second))
		h, err := w.feed.FeedHead(ctx)
		cancel()
		if err != nil {
			if time.Since(lastErr) > time.Minute {
				w.log.Warn("ssf: cannot read the event feed; delivery waits until the database answers", "err", err)
				lastErr = time.Now()
			}
			continue
		}
		w.mu.Lock()
		if h != w.head {
			w.head = h
			close(w.change)
			w.change = make(chan struct{})
		}
		w.mu.Unlock()
	}
}
