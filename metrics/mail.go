package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey-dev/latchkey/store"
)

// mailMetrics count what the mail sender does (mail.SenderObserver).
type mailMetrics struct {
	sent, failed, givenUp *prometheus.CounterVec
}

func (m *Metrics) newMail() {
	m.mail.sent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_mail_sent_total",
		Help: "E-mails the mail server accepted, by kind (password_reset, email_verification).",
	}, []string{"kind"})
	m.mail.failed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_mail_send_failures_total",
		Help: "Attempts to send an e-mail that failed and will be retried (the mail server down or refusing for now), by kind.",
	}, []string{"kind"})
	m.mail.givenUp = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_mail_given_up_total",
		Help: "E-mails dropped unsent, by kind and reason: expired (the link expired first), rejected (the server refused the recipient for good), unsealable.",
	}, []string{"kind", "reason"})
	m.reg.MustRegister(m.mail.sent, m.mail.failed, m.mail.givenUp)
	for _, k := range []string{string(store.TokenPasswordReset), string(store.TokenEmailVerification)} {
		m.mail.sent.WithLabelValues(k)
		m.mail.failed.WithLabelValues(k)
	}
}

// MailSent implements mail.SenderObserver.
func (m *Metrics) MailSent(kind string) { m.mail.sent.WithLabelValues(kind).Inc() }

// MailFailed implements mail.SenderObserver.
func (m *Metrics) MailFailed(kind string) { m.mail.failed.WithLabelValues(kind).Inc() }

// MailGivenUp implements mail.SenderObserver.
func (m *Metrics) MailGivenUp(kind, reason string) {
	m.mail.givenUp.WithLabelValues(kind, reason).Inc()
}

var (
	mailQueuedDesc = prometheus.NewDesc("latchkey_mail_queue_messages",
		"E-mails waiting in the queue (shared by every instance): not sent yet, or waiting for a retry.", nil, nil)
	mailAgeDesc = prometheus.NewDesc("latchkey_mail_queue_oldest_age_seconds",
		"Age of the oldest e-mail in the queue, 0 when it is empty: how late mail is.", nil, nil)
)

// WatchMailQueue exports the queue's size and the age of its oldest
// message, read from stats (the store's MailStats) at each scrape, bounded
// by PingTimeout; nothing is exported for a scrape whose read fails
// (latchkey_database_up says why). Call it once.
func (m *Metrics) WatchMailQueue(stats func(context.Context) (store.MailStats, error), now func() time.Time) {
	m.reg.MustRegister(mailQueueCollector{stats: stats, now: now})
}

type mailQueueCollector struct {
	stats func(context.Context) (store.MailStats, error)
	now   func() time.Time
}

func (c mailQueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- mailQueuedDesc
	ch <- mailAgeDesc
}

func (c mailQueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), PingTimeout)
	defer cancel()
	s, err := c.stats(ctx)
	if err != nil {
		return
	}
	age := 0.0
	if !s.Oldest.IsZero() {
		age = max(c.now().Sub(s.Oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(mailQueuedDesc, prometheus.GaugeValue, float64(s.Queued))
	ch <- prometheus.MustNewConstMetric(mailAgeDesc, prometheus.GaugeValue, age)
}
