package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey-dev/latchkey/store"
)

// FeedReader is the part of store.Feed the revocation feed's metrics read.
type FeedReader interface {
	Backlogs(ctx context.Context) ([]store.Backlog, error)
}

var feedLagDesc = prometheus.NewDesc("latchkey_ssf_stream_lag_seconds",
	"Per enabled revocation-feed stream: how long ago the oldest event it has not had acknowledged happened, 0 when it is caught up. "+
		"Every instance reads the same feed (it is in the database).",
	[]string{"receiver", "stream", "delivery"}, nil)

// WatchFeed exports, for each enabled stream of the revocation feed (the
// Shared Signals transmitter), the age of the oldest event not yet
// acknowledged by its receiver (poll) or its endpoint (push): how late
// revocations reach that API. Paused and disabled streams are left out: a
// paused stream holds its events because its receiver asked. The values are
// read from feed at each scrape, in one read (store.Feed.Backlogs) bounded
// by PingTimeout that takes no lock: however many streams there are, and
// however many instances are scraped, a scrape neither waits for the
// feed's sequencer nor holds up revocations and polls. A scrape whose read
// fails or times out exports no lag (and latchkey_database_up says why).
// Call it once.
func (m *Metrics) WatchFeed(feed FeedReader, now func() time.Time) {
	m.reg.MustRegister(feedCollector{feed: feed, now: now})
}

type feedCollector struct {
	feed FeedReader
	now  func() time.Time
}

func (c feedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- feedLagDesc }

func (c feedCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), PingTimeout)
	defer cancel()
	backlogs, err := c.feed.Backlogs(ctx)
	if err != nil {
		return
	}
	now := c.now()
	for _, b := range backlogs {
		lag := 0.0
		if !b.Oldest.IsZero() {
			lag = max(now.Sub(b.Oldest).Seconds(), 0)
		}
		delivery := "poll"
		if b.Push {
			delivery = "push"
		}
		ch <- prometheus.MustNewConstMetric(feedLagDesc, prometheus.GaugeValue, lag, b.Receiver, b.StreamID, delivery)
	}
}
