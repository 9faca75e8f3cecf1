package mail_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/internal/mailtest"
	"github.com/latchkey-dev/latchkey/mail"
)

const sendTimeout = 10 * time.Second

// smtpTo returns a transport to srv as SMTP_URL raw (with srv's address
// substituted for ADDR) names it, trusting pool's CA.
func smtpTo(t *testing.T, raw string, srv *mailtest.Server, tc *tls.Config) *mail.SMTP {
	t.Helper()
	cfg, err := mail.ParseSMTPURL(strings.Replace(raw, "ADDR", srv.SMTPAddr, 1))
	if err != nil {
		t.Fatal(err)
	}
	s := mail.NewSMTP(cfg, sendTimeout)
	s.TLS = tc
	return s
}

// received waits for the one message srv received and returns it.
func received(t *testing.T, srv *mailtest.Server) mailtest.Detail {
	t.Helper()
	ms := srv.WaitMessages(t, 1, 10*time.Second)
	if len(ms) != 1 {
		t.Fatalf("%d messages, want 1", len(ms))
	}
	return srv.Message(t, ms[0].ID)
}

// TestSMTPPlain delivers a message to a real SMTP server (Mailpit) over a
// plain connection, and reads it back as the server parsed it.
func TestSMTPPlain(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	m := message()
	if err := smtpTo(t, "smtp://ADDR", srv, nil).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := received(t, srv)
	if got.Subject != m.Subject || got.From.Address != m.From.Address || got.From.Name != "Latchkey" ||
		len(got.To) != 1 || got.To[0].Address != m.To {
		t.Errorf("received %+v", got)
	}
	if !strings.Contains(got.Text, m.Link) || !strings.Contains(got.HTML, `href="`+m.Link+`"`) {
		t.Errorf("the link is missing from a part: text %q html %q", got.Text, got.HTML)
	}
}

// TestSMTPStartTLSAuth: against a server that requires STARTTLS and AUTH,
// the transport upgrades (it trusts only the test's CA), authenticates and
// delivers; with a wrong password the server refuses it (not as a
// permanent refusal: the operator fixes SMTP_URL and the queue goes on).
func TestSMTPStartTLSAuth(t *testing.T) {
	cert, key, _, pool := mailtest.TLSFiles(t)
	srv := mailtest.Start(t, mailtest.Options{CertFile: cert, KeyFile: key, AuthFile: mailtest.AuthFile(t, "mailer", "s3cret pass")})
	tc := &tls.Config{RootCAs: pool}
	if err := smtpTo(t, "smtp://mailer:s3cret%20pass@ADDR", srv, tc).Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	received(t, srv)
	err := smtpTo(t, "smtp://mailer:wrong@ADDR", srv, tc).Send(context.Background(), message())
	var perm *mail.PermanentError
	if err == nil || errors.As(err, &perm) {
		t.Errorf("wrong password: %v, want a retryable error", err)
	}
	if err != nil && strings.Contains(err.Error(), "wrong") {
		t.Errorf("the error shows the password: %v", err)
	}
	// Without the CA, the upgrade fails: the server's certificate is checked.
	if err := smtpTo(t, "smtp://mailer:s3cret%20pass@ADDR", srv, nil).Send(context.Background(), message()); err == nil {
		t.Error("STARTTLS with an untrusted certificate succeeded")
	}
}

// TestSMTPImplicitTLS: smtps:// speaks TLS from the first byte.
func TestSMTPImplicitTLS(t *testing.T) {
	cert, key, _, pool := mailtest.TLSFiles(t)
	srv := mailtest.Start(t, mailtest.Options{CertFile: cert, KeyFile: key, ImplicitTLS: true})
	if err := smtpTo(t, "smtps://ADDR", srv, &tls.Config{RootCAs: pool}).Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	received(t, srv)
	// smtp:// to an implicit-TLS port gets no SMTP greeting at all: the
	// attempt fails when its timeout ends it.
	plain := smtpTo(t, "smtp://ADDR", srv, &tls.Config{RootCAs: pool})
	plain.Timeout = time.Second
	if err := plain.Send(context.Background(), message()); err == nil {
		t.Error("plain SMTP to an smtps port succeeded")
	}
}

// TestSMTPRefusals: a 5xx to RCPT TO is a PermanentError (the message is
// given up), a 4xx is not (it is retried).
func TestSMTPRefusals(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Chaos: true})
	tr := smtpTo(t, "smtp://ADDR", srv, nil)
	var perm *mail.PermanentError
	srv.SetChaos(t, 550, 100)
	if err := tr.Send(context.Background(), message()); !errors.As(err, &perm) {
		t.Errorf("550 to RCPT: %v, want a PermanentError", err)
	}
	srv.SetChaos(t, 451, 100)
	if err := tr.Send(context.Background(), message()); err == nil || errors.As(err, &perm) {
		t.Errorf("451 to RCPT: %v, want a retryable error", err)
	}
	srv.SetChaos(t, 451, 0)
	if err := tr.Send(context.Background(), message()); err != nil {
		t.Errorf("after the chaos: %v", err)
	}
}
