package mail_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/internal/mailtest"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/mail"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/sqlite"
)

var secret = bytes.Repeat([]byte("s"), 32)

// rig is a queue on a real SQLite file, a clock, a composer and a real
// SMTP server.
type rig struct {
	t     *testing.T
	db    *sqlite.DB
	clock *testkit.Clock
	comp  *mail.Composer
	srv   *mailtest.Server
	obs   *counts
}

func newRig(t *testing.T, o mailtest.Options) *rig {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	tm, err := mail.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := mail.NewSealer(secret)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, db: db, clock: testkit.NewClock(time.Now().UTC()), srv: mailtest.Start(t, o), obs: &counts{m: map[string]int{}},
		comp: &mail.Composer{From: netmail.Address{Name: "Latchkey", Address: "no-reply@example.com"}, Templates: tm, Sealer: sealer,
			Links: map[store.TokenKind]string{store.TokenPasswordReset: "https://app.example.com/#reset=", store.TokenEmailVerification: "https://app.example.com/#verify="}}}
}

// sender returns a sender on the rig's queue, clock and server.
func (r *rig) sender(owner string, sealer *mail.Sealer) *mail.Sender {
	cfg, err := mail.ParseSMTPURL("smtp://" + r.srv.SMTPAddr)
	if err != nil {
		r.t.Fatal(err)
	}
	if sealer == nil {
		sealer = r.comp.Sealer
	}
	return mail.NewSender(mail.SenderOptions{Queue: r.db, Transport: mail.NewSMTP(cfg, 5*time.Second), Sealer: sealer, Owner: owner,
		SendTimeout: 5 * time.Second, Backoff: time.Minute, BackoffMax: 4 * time.Minute, Now: r.clock.Now,
		Logger: slog.New(slog.DiscardHandler), Observer: r.obs})
}

// queue composes and queues a reset mail to each address, valid for ttl.
func (r *rig) queue(ttl time.Duration, to ...string) {
	r.t.Helper()
	for _, a := range to {
		now := r.clock.Now()
		m, err := r.comp.Compose(context.Background(), auth.MailRequest{Kind: store.TokenPasswordReset, To: a, Token: "tok-" + a,
			IssuedAt: now, ExpiresAt: now.Add(ttl)})
		if err != nil {
			r.t.Fatal(err)
		}
		if err := r.db.EnqueueMail(context.Background(), m); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *rig) drain(s *mail.Sender, want int) {
	r.t.Helper()
	n, err := s.Drain(context.Background())
	if err != nil || n != want {
		r.t.Fatalf("Drain = %d, %v; want %d handled", n, err, want)
	}
}

func (r *rig) queued() int {
	r.t.Helper()
	st, err := r.db.MailStats(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return st.Queued
}

// counts is a SenderObserver.
type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) add(k string) { c.mu.Lock(); c.m[k]++; c.mu.Unlock() }
func (c *counts) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}
func (c *counts) MailSent(kind string)            { c.add("sent") }
func (c *counts) MailFailed(kind string)          { c.add("failed") }
func (c *counts) MailGivenUp(kind, reason string) { c.add("given_up_" + reason) }

// TestSenderDelivers: queued messages are sent, each once, and removed.
func TestSenderDelivers(t *testing.T) {
	r := newRig(t, mailtest.Options{})
	r.queue(time.Hour, "a@example.com", "b@example.com", "c@example.com")
	r.drain(r.sender("one", nil), 3)
	if n := len(r.srv.WaitMessages(t, 3, 10*time.Second)); n != 3 {
		t.Errorf("%d messages received, want 3", n)
	}
	if q := r.queued(); q != 0 || r.obs.get("sent") != 3 {
		t.Errorf("queued %d, sent %d; want 0 and 3", q, r.obs.get("sent"))
	}
	got := r.srv.Message(t, r.srv.Messages(t)[0].ID)
	if got.Subject != "Reset your password" || !bytes.Contains([]byte(got.Text), []byte("https://app.example.com/#reset=tok-")) {
		t.Errorf("received %+v", got)
	}
}

// TestSenderOutage: with the mail server down the attempt fails and the
// message stays queued, rescheduled after the backoff (not before); once
// the server is back it is delivered, once.
func TestSenderOutage(t *testing.T) {
	r := newRig(t, mailtest.Options{})
	r.srv.Stop()
	s := r.sender("one", nil)
	r.queue(time.Hour, "a@example.com")
	r.drain(s, 1)
	if r.queued() != 1 || r.obs.get("failed") != 1 {
		t.Fatalf("after a failed attempt: queued %d, failures %d; want 1 and 1", r.queued(), r.obs.get("failed"))
	}
	r.srv.Restart(t)
	r.clock.Advance(time.Minute - time.Millisecond)
	r.drain(s, 0) // not due before its backoff
	r.clock.Advance(time.Millisecond)
	r.drain(s, 1)
	r.srv.WaitMessages(t, 1, 10*time.Second)
	if r.queued() != 0 || r.obs.get("sent") != 1 {
		t.Errorf("queued %d, sent %d; want 0 and 1", r.queued(), r.obs.get("sent"))
	}
	if n := len(r.srv.Messages(t)); n != 1 {
		t.Errorf("%d messages received, want 1", n)
	}
}

// TestSenderGivesUp: a message whose link has expired, one whose recipient
// the server refuses for good, and one that does not open (sealed under
// another secret) are dropped unsent; a failure whose next attempt would
// come after the link's expiry is dropped too.
func TestSenderGivesUp(t *testing.T) {
	r := newRig(t, mailtest.Options{Chaos: true})
	s := r.sender("one", nil)
	r.queue(time.Hour, "late@example.com")
	r.clock.Advance(time.Hour)
	r.drain(s, 1)
	r.srv.SetChaos(t, 550, 100)
	r.queue(time.Hour, "refused@example.com")
	r.drain(s, 1)
	r.srv.SetChaos(t, 451, 100)
	r.queue(90*time.Second, "soon@example.com") // the backoff is a minute, twice that after one failure
	r.drain(s, 1)
	r.clock.Advance(time.Minute)
	r.drain(s, 1)
	r.srv.SetChaos(t, 451, 0)
	other, _ := mail.NewSealer(bytes.Repeat([]byte("x"), 32))
	r.queue(time.Hour, "sealed@example.com")
	r.drain(r.sender("two", other), 1)
	if r.queued() != 0 {
		t.Errorf("%d messages still queued", r.queued())
	}
	for k, want := range map[string]int{"given_up_expired": 2, "given_up_rejected": 1, "given_up_unsealable": 1, "sent": 0, "failed": 1} {
		if got := r.obs.get(k); got != want {
			t.Errorf("%s = %d, want %d", k, got, want)
		}
	}
	if n := len(r.srv.Messages(t)); n != 0 {
		t.Errorf("%d messages received, want none", n)
	}
}

// TestSendersShareTheQueue: two senders (two instances) draining one queue
// at once send each message exactly once.
func TestSendersShareTheQueue(t *testing.T) {
	r := newRig(t, mailtest.Options{})
	const n = 24
	to := make([]string, n)
	for i := range to {
		to[i] = fmt.Sprintf("user%02d@example.com", i)
	}
	r.queue(time.Hour, to...)
	var wg sync.WaitGroup
	for _, owner := range []string{"one", "two"} {
		s := r.sender(owner, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Drain(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got := map[string]int{}
	for _, m := range r.srv.WaitMessages(t, n, 10*time.Second) {
		got[m.To[0].Address]++
	}
	for _, a := range to {
		if got[a] != 1 {
			t.Errorf("%s received %d messages, want 1", a, got[a])
		}
	}
	if len(got) != n || r.queued() != 0 {
		t.Errorf("%d recipients, %d still queued", len(got), r.queued())
	}
}

// TestSenderTakesOverDeadLease: a message leased by an instance that died
// is not sent by another until the lease has passed, then once.
func TestSenderTakesOverDeadLease(t *testing.T) {
	r := newRig(t, mailtest.Options{})
	r.queue(time.Hour, "a@example.com")
	if ms, err := r.db.LeaseMail(context.Background(), "dead", r.clock.Now(), 10*time.Second, 8); err != nil || len(ms) != 1 {
		t.Fatalf("lease by the dead instance: %d, %v", len(ms), err)
	}
	s := r.sender("alive", nil)
	r.clock.Advance(10*time.Second - time.Millisecond)
	r.drain(s, 0)
	r.clock.Advance(time.Millisecond)
	r.drain(s, 1)
	if n := len(r.srv.WaitMessages(t, 1, 10*time.Second)); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

// TestSenderRunWakes: a running sender sends a message queued while it
// waits as soon as it is woken (its poll interval is an hour).
func TestSenderRunWakes(t *testing.T) {
	r := newRig(t, mailtest.Options{})
	cfg, _ := mail.ParseSMTPURL("smtp://" + r.srv.SMTPAddr)
	s := mail.NewSender(mail.SenderOptions{Queue: r.db, Transport: mail.NewSMTP(cfg, 5*time.Second), Sealer: r.comp.Sealer,
		Poll: time.Hour, Now: r.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	r.queue(time.Hour, "a@example.com")
	r.comp.Wake = s.Wake
	r.comp.Queued()
	r.srv.WaitMessages(t, 1, 10*time.Second)
}
