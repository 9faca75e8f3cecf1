package metrics_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// When the feed's sequencer is stuck (another instance holds the feed lock:
// paused, or on a connection its database has not yet noticed is dead),
// no revocation reaches any receiver: that is when the lag must show. A
// scrape reads the lag without taking the lock, and counts an event not
// yet numbered as waiting: the stream is exported with its event's age,
// not left out (which would keep LatchkeyRevocationFeedLag from firing).
func TestWatchFeedStuckSequencerPostgres(t *testing.T) {
	u := pgtest.FreshDatabase(t) // advisory locks are per database
	ctx := context.Background()
	db, err := postgres.Open(ctx, u, postgres.Options{QueryTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, now := watched(t, db)
	if err := db.CreateStream(ctx, store.Stream{ID: "s1", ReceiverID: "r1", Delivered: []store.EventKind{store.EventSessionRevoked},
		Status: store.StreamEnabled, CreatedAt: feedT0, UpdatedAt: feedT0}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	wantLine(t, scrape(t, m), `latchkey_ssf_stream_lag_seconds{delivery="poll",receiver="orders-api",stream="s1"} 0`)

	pgtest.HoldAdvisoryLock(t, u, postgres.FeedLockKey)
	// Recorded (without a seq, as every event is) while the lock is held.
	if err := db.AddStreamEvent(ctx, store.Event{ID: "ev1", Kind: store.EventVerification, StreamID: "s1", At: feedT0}); err != nil {
		t.Fatal(err)
	}
	*now = feedT0.Add(60 * time.Second)
	body := scrape(t, m)
	wantLine(t, body, `latchkey_ssf_stream_lag_seconds{delivery="poll",receiver="orders-api",stream="s1"} 60`)
	if t.Failed() {
		t.Logf("scrape:\n%s", grepLines(body, "latchkey_ssf_stream_lag_seconds"))
	}
}

func grepLines(body, s string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
