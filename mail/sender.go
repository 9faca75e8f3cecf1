package mail

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey-dev/latchkey/store"
)

// Transport delivers one message: SMTP, or Log in development.
type Transport interface {
	Send(ctx context.Context, m Message) error
}

// Log is the development transport, used when no SMTP_URL is set outside
// production: it sends nothing and logs the message's link instead, marked
// as development-only, so that a developer can follow a reset or
// verification link without a mail server. It is never used in production,
// where a link in a log would be a credential in a log.
type Log struct{ Logger *slog.Logger }

// Send logs m's link.
func (l Log) Send(ctx context.Context, m Message) error {
	l.Logger.WarnContext(ctx, "DEVELOPMENT ONLY: no SMTP_URL, so this e-mail is not sent; its link is logged instead",
		"mail_to", m.To, "mail_subject", m.Subject, "mail_link", m.Link)
	return nil
}

// SenderObserver is told what the sender does, for metrics. Its methods
// must be cheap and safe for concurrent use.
type SenderObserver interface {
	MailSent(kind string)
	// MailFailed counts an attempt that failed and will be retried.
	MailFailed(kind string)
	// MailGivenUp counts a message dropped unsent; reason is "expired"
	// (its link expired before it could be sent), "rejected" (the server
	// refused the recipient for good) or "unsealable".
	MailGivenUp(kind, reason string)
}

// SenderOptions configure a Sender. Queue, Transport and Sealer are
// required.
type SenderOptions struct {
	Queue     store.MailQueue
	Transport Transport
	Sealer    *Sealer
	// Owner names this sender in the leases it takes (a new random id when
	// empty): one per process.
	Owner string
	// SendTimeout bounds one delivery (default 30s). A message is leased
	// for twice as long, so no other instance sends it while this one may
	// still be sending it; if this one dies, another sends it once the
	// lease has passed.
	SendTimeout time.Duration
	// Poll is how often the queue is looked at when nothing wakes the
	// sender (default 5s): messages queued by other instances, retries.
	Poll time.Duration
	// Backoff is the wait after a first failed attempt (default 30s); each
	// further failure doubles it, up to BackoffMax (default 10m).
	Backoff    time.Duration
	BackoffMax time.Duration
	// Batch is how many messages are leased and sent at once (default 8).
	Batch    int
	Now      func() time.Time
	Logger   *slog.Logger
	Observer SenderObserver
}

// Sender delivers the queued mail: it leases due messages, sends them,
// deletes the ones sent, and reschedules the ones that failed with
// exponential backoff until their link expires. Run one per process; every
// instance of a deployment runs its own, and the leases make them share
// the queue without sending a message twice (a message is sent again only
// when an instance dies between the server's acceptance and the deletion).
type Sender struct {
	o    SenderOptions
	wake chan struct{}
}

// NewSender returns a Sender with o's defaults filled in.
func NewSender(o SenderOptions) *Sender {
	if o.Owner == "" {
		o.Owner = uuid.NewString()
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 30 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.Backoff <= 0 {
		o.Backoff = 30 * time.Second
	}
	if o.BackoffMax < o.Backoff {
		o.BackoffMax = max(o.Backoff, 10*time.Minute)
	}
	if o.Batch <= 0 {
		o.Batch = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Sender{o: o, wake: make(chan struct{}, 1)}
}

// Owner returns the id this sender leases under.
func (s *Sender) Owner() string { return s.o.Owner }

// Wake makes a running sender look at the queue now (a message was just
// queued). It never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends until ctx ends: at once, whenever woken, and every Poll.
func (s *Sender) Run(ctx context.Context) {
	t := time.NewTicker(s.o.Poll)
	defer t.Stop()
	for {
		if _, err := s.Drain(ctx); err != nil && ctx.Err() == nil {
			s.o.Logger.Warn("mail queue not read; retrying", "err", err, "in", s.o.Poll.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// Drain sends every message due now, batch after batch, and returns how
// many it handled (sent, rescheduled or given up).
func (s *Sender) Drain(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		now := s.o.Now()
		ms, err := s.o.Queue.LeaseMail(ctx, s.o.Owner, now, 2*s.o.SendTimeout, s.o.Batch)
		if err != nil {
			return total, err
		}
		var wg sync.WaitGroup
		for _, m := range ms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.deliver(ctx, m)
			}()
		}
		wg.Wait()
		total += len(ms)
		if len(ms) < s.o.Batch {
			break
		}
	}
	return total, nil
}

// deliver sends one leased message and records the outcome.
func (s *Sender) deliver(ctx context.Context, m store.Mail) {
	log := s.o.Logger.With("mail_id", m.ID, "mail_kind", m.Kind)
	if !s.o.Now().Before(m.NotAfter) {
		s.giveUp(ctx, log, m, "expired", errors.New("its link expired before it could be sent"))
		return
	}
	msg, err := s.o.Sealer.open(m.ID, m.Payload)
	if err != nil {
		s.giveUp(ctx, log, m, "unsealable", err)
		return
	}
	sctx, cancel := context.WithTimeout(ctx, s.o.SendTimeout)
	err = s.o.Transport.Send(sctx, msg)
	cancel()
	now := s.o.Now()
	var perm *PermanentError
	switch {
	case err == nil:
		if ferr := s.o.Queue.FinishMail(ctx, m.ID, s.o.Owner, now); ferr != nil {
			// Sent, but the row stays: it will be sent again once the
			// lease passes (at least once, never lost).
			log.Warn("mail sent but not removed from the queue", "err", ferr)
		}
		if s.o.Observer != nil {
			s.o.Observer.MailSent(m.Kind)
		}
		log.Info("mail sent", "attempts", m.Attempts+1)
	case errors.As(err, &perm):
		s.giveUp(ctx, log, m, "rejected", err)
	case ctx.Err() != nil:
		// Stopping: the lease lapses and another sender (or this one after
		// a restart) tries again.
	default:
		next := now.Add(s.backoff(m.Attempts))
		if !next.Before(m.NotAfter) {
			s.giveUp(ctx, log, m, "expired", errors.New("its link expires before the next attempt: "+err.Error()))
			return
		}
		if rerr := s.o.Queue.RetryMail(ctx, m.ID, s.o.Owner, now, next, truncate(err.Error(), 500)); rerr != nil {
			log.Warn("mail attempt failed and not rescheduled; retried when its lease passes", "err", err, "reschedule_err", rerr)
		} else {
			log.Warn("mail attempt failed; will retry", "err", err, "attempts", m.Attempts+1, "next_attempt", next)
		}
		if s.o.Observer != nil {
			s.o.Observer.MailFailed(m.Kind)
		}
	}
}

func (s *Sender) giveUp(ctx context.Context, log *slog.Logger, m store.Mail, reason string, cause error) {
	if err := s.o.Queue.FinishMail(ctx, m.ID, s.o.Owner, s.o.Now()); err != nil {
		log.Warn("mail given up but not removed from the queue", "err", err)
	}
	if s.o.Observer != nil {
		s.o.Observer.MailGivenUp(m.Kind, reason)
	}
	log.Error("mail given up, not sent", "reason", reason, "err", cause, "attempts", m.Attempts)
}

// backoff is the wait after the failure of attempt number attempts+1:
// Backoff doubled per earlier failure, at most BackoffMax.
func (s *Sender) backoff(attempts int) time.Duration {
	d := s.o.Backoff
	for range min(attempts, 30) {
		d *= 2
		if d >= s.o.BackoffMax {
			return s.o.BackoffMax
		}
	}
	return min(d, s.o.BackoffMax)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
