package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey-dev/latchkey/password"
)

// PingTimeout bounds the database ping made at each scrape, as GET /readyz
// bounds its own.
const PingTimeout = 2 * time.Second

// WatchDatabase exports latchkey_database_up: 1 when ping (the store's
// Ping, the check GET /readyz makes) answers within PingTimeout at scrape
// time, else 0. The value is read at each scrape rather than kept from the
// last readiness probe, so it is current even where nothing probes /readyz.
// Call it once.
func (m *Metrics) WatchDatabase(ping func(context.Context) error) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "latchkey_database_up",
		Help: "1 if the database answered a ping at scrape time (what GET /readyz checks), 0 if not.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), PingTimeout)
		defer cancel()
		if ping(ctx) != nil {
			return 0
		}
		return 1
	}))
}

// WatchHasher exports the password hasher's capacity and load, read at
// scrape time from h.Stats. Call it once.
func (m *Metrics) WatchHasher(h *password.Hasher) {
	m.reg.MustRegister(hasherCollector{h})
}

var (
	hashSlotsDesc = prometheus.NewDesc("latchkey_password_hash_slots",
		"Password hashes that may run at once (PASSWORD_HASH_CONCURRENCY).", nil, nil)
	hashQueueSizeDesc = prometheus.NewDesc("latchkey_password_hash_queue_size",
		"Places for password hashes waiting for a slot; beyond them a sign-in is refused with 503.", nil, nil)
	hashRunningDesc = prometheus.NewDesc("latchkey_password_hash_slots_in_use",
		"Password hashes running now.", nil, nil)
	hashQueuedDesc = prometheus.NewDesc("latchkey_password_hash_queued",
		"Password hashes waiting for a slot now.", nil, nil)
	hashRefusedDesc = prometheus.NewDesc("latchkey_password_hash_refused_total",
		"Sign-ins, sign-ups and password checks refused with 503 because every hash slot and queue place was taken.", nil, nil)
)

// hasherCollector reads one Stats snapshot per scrape.
type hasherCollector struct{ h *password.Hasher }

func (c hasherCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{hashSlotsDesc, hashQueueSizeDesc, hashRunningDesc, hashQueuedDesc, hashRefusedDesc} {
		ch <- d
	}
}

func (c hasherCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.h.Stats()
	ch <- prometheus.MustNewConstMetric(hashSlotsDesc, prometheus.GaugeValue, float64(s.Slots))
	ch <- prometheus.MustNewConstMetric(hashQueueSizeDesc, prometheus.GaugeValue, float64(s.QueueSize))
	ch <- prometheus.MustNewConstMetric(hashRunningDesc, prometheus.GaugeValue, float64(s.Running))
	ch <- prometheus.MustNewConstMetric(hashQueuedDesc, prometheus.GaugeValue, float64(s.Queued))
	ch <- prometheus.MustNewConstMetric(hashRefusedDesc, prometheus.CounterValue, float64(s.Refused))
}
