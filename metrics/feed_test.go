package metrics_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/metrics"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/sqlite"
)

// WatchFeed exports, per enabled stream of a real SQLite feed, the age of
// the oldest event the stream has not had acknowledged: 0 when caught up,
// growing while an event waits, back to 0 once it is acknowledged; paused
// streams are left out, and a read that fails exports nothing.
func TestWatchFeed(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "feed.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, now := watched(t, db)
	if body := scrape(t, m); strings.Contains(body, "latchkey_ssf_stream_lag_seconds{") {
		t.Errorf("no streams, yet a lag series:\n%s", body)
	}

	for _, s := range []store.Stream{
		{ID: "s-poll", ReceiverID: "r1", Delivered: []store.EventKind{store.EventSessionRevoked}, Status: store.StreamEnabled, CreatedAt: feedT0, UpdatedAt: feedT0},
		{ID: "s-push", ReceiverID: "r1", Push: true, EndpointURL: "https://orders.example/ssf", Delivered: []store.EventKind{store.EventSessionRevoked},
			Status: store.StreamEnabled, CreatedAt: feedT0, UpdatedAt: feedT0},
	} {
		if err := db.CreateStream(ctx, s, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	body := scrape(t, m)
	wantLine(t, body, `latchkey_ssf_stream_lag_seconds{delivery="poll",receiver="orders-api",stream="s-poll"} 0`)
	wantLine(t, body, `latchkey_ssf_stream_lag_seconds{delivery="push",receiver="orders-api",stream="s-push"} 0`)

	// An event for the poll stream only, 42 s ago and not acknowledged.
	if err := db.AddStreamEvent(ctx, store.Event{ID: "ev1", Kind: store.EventVerification, StreamID: "s-poll", At: feedT0}); err != nil {
		t.Fatal(err)
	}
	*now = feedT0.Add(42 * time.Second)
	body = scrape(t, m)
	wantLine(t, body, `latchkey_ssf_stream_lag_seconds{delivery="poll",receiver="orders-api",stream="s-poll"} 42`)
	wantLine(t, body, `latchkey_ssf_stream_lag_seconds{delivery="push",receiver="orders-api",stream="s-push"} 0`)

	if err := db.AckEvents(ctx, "s-poll", []string{"ev1"}); err != nil {
		t.Fatal(err)
	}
	wantLine(t, scrape(t, m), `latchkey_ssf_stream_lag_seconds{delivery="poll",receiver="orders-api",stream="s-poll"} 0`)

	// Paused: the receiver holds its events on purpose; no series.
	s, err := db.Stream(ctx, "s-push")
	if err != nil {
		t.Fatal(err)
	}
	s.Status = store.StreamPaused
	if err := db.UpdateStream(ctx, s); err != nil {
		t.Fatal(err)
	}
	if body := scrape(t, m); strings.Contains(body, `stream="s-push"`) {
		t.Errorf("a paused stream is exported:\n%s", body)
	}

	// The database gone: the scrape still answers, without the series.
	db.Close()
	if body := scrape(t, m); strings.Contains(body, "latchkey_ssf_stream_lag_seconds{") {
		t.Errorf("a closed feed still exports a lag:\n%s", body)
	}
}

// feedT0 is where the feed tests' clock starts.
var feedT0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

// feedStore is a store whose feed the metrics read and the tests write.
type feedStore interface {
	store.Feed
	Migrate(context.Context) error
}

// watched migrates db, exports its feed's lag on a clock at feedT0 that the
// test moves through now, and creates the receiver r1 ("orders-api").
func watched(t *testing.T, db feedStore) (m *metrics.Metrics, now *time.Time) {
	t.Helper()
	ctx := context.Background()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	clock := feedT0
	m = metrics.New()
	m.WatchFeed(db, func() time.Time { return clock })
	if err := db.CreateReceiver(ctx, store.Receiver{ID: "r1", Name: "orders-api", Audience: "https://orders.example",
		CredentialHash: []byte("0123456789abcdef0123456789abcdef"), CreatedAt: feedT0}); err != nil {
		t.Fatal(err)
	}
	return m, &clock
}
