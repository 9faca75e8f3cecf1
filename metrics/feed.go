package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey-dev/latchkey/store"
)

// FeedReader is the part of store.Feed the revocation feed's metrics read.
type FeedReader interface {
	Receivers(ctx context.Context) ([]store.Receiver, error)
	Streams(ctx context.Context, receiverID string) ([]store.Stream, error)
	StreamEvents(ctx context.Context, streamID string, limit int) ([]store.Event, error)
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
// read from feed at each scrape, bounded by PingTimeout; a scrape whose
// reads fail or time out exports the streams read until then (and
// latchkey_database_up says why). Call it once.
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
	receivers, err := c.feed.Receivers(ctx)
	if err != nil {
		return
	}
	names := make(map[string]string, len(receivers))
	for _, r := range receivers {
		names[r.ID] = r.Name
	}
	streams, err := c.feed.Streams(ctx, "")
	if err != nil {
		return
	}
	now := c.now()
	for _, s := range streams {
		if s.Status != store.StreamEnabled {
			continue
		}
		next, err := c.feed.StreamEvents(ctx, s.ID, 1)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			continue // deleted since it was listed
		}
		lag := 0.0
		if len(next) > 0 {
			lag = max(now.Sub(next[0].At).Seconds(), 0)
		}
		delivery := "poll"
		if s.Push {
			delivery = "push"
		}
		ch <- prometheus.MustNewConstMetric(feedLagDesc, prometheus.GaugeValue, lag, names[s.ReceiverID], s.ID, delivery)
	}
}
