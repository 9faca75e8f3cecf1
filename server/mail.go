package server

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/mail"
	"github.com/latchkey-dev/latchkey/store"
)

// devMailFrom is the From of development mail without MAIL_FROM.
const devMailFrom = "latchkey@localhost"

// openMail builds the e-mail of the account flows from the SMTP_URL and
// MAIL_* settings: the composer the domain queues messages through and the
// sender that delivers them (started by StartMail). Without SMTP_URL, in
// development the sender logs the links instead; in production there is no
// mailer, and the e-mail routes answer 501 naming SMTP_URL. sealKey seals
// the queued messages (REFRESH_TOKEN_SECRET's value).
func (a *App) openMail(st store.Store, sealKey []byte, tlsConf *tls.Config) (auth.Mailer, error) {
	cfg := a.Config
	mq, ok := st.(store.MailQueue)
	if !ok {
		return nil, nil // a store without a mail queue: the e-mail flows answer 501
	}
	a.Metrics.WatchMailQueue(mq.MailStats, a.now)
	var transport mail.Transport
	switch {
	case cfg.SMTPURL != "":
		sc, err := mail.ParseSMTPURL(cfg.SMTPURL)
		if err != nil {
			return nil, fmt.Errorf("SMTP_URL: %w", err)
		}
		smtp := mail.NewSMTP(sc, cfg.MailSendTimeout.D())
		smtp.TLS = tlsConf
		transport = smtp
	case cfg.Production():
		return nil, nil
	default:
		transport = mail.Log{Logger: a.Logger}
	}
	from := cfg.MailFrom
	if from == "" {
		from = devMailFrom
	}
	addr, err := mail.ParseFrom(from)
	if err != nil {
		return nil, fmt.Errorf("MAIL_FROM: %w", err)
	}
	tm, err := mail.LoadTemplates(cfg.MailTemplatesDir)
	if err != nil {
		return nil, err
	}
	sealer, err := mail.NewSealer(sealKey)
	if err != nil {
		return nil, err
	}
	a.mailSender = mail.NewSender(mail.SenderOptions{Queue: mq, Transport: transport, Sealer: sealer,
		SendTimeout: cfg.MailSendTimeout.D(), Poll: cfg.MailPollInterval.D(), Backoff: cfg.MailRetryBackoff.D(),
		BackoffMax: cfg.MailRetryBackoffMax.D(), Now: a.now, Logger: a.Logger, Observer: a.Metrics})
	a.mailTemplates = tm.Overridden
	return &mail.Composer{From: addr, Templates: tm, Sealer: sealer, Wake: a.mailSender.Wake,
		Links: map[store.TokenKind]string{store.TokenPasswordReset: cfg.ResetLink(), store.TokenEmailVerification: cfg.VerifyLink()}}, nil
}

// StartMail starts delivering the queued e-mail in the background, until
// Close; latchkey serve calls it (the other commands send nothing). It
// logs how mail goes out, and says so when it does not.
func (a *App) StartMail() {
	if a.mailSender == nil {
		if a.Config.Production() {
			a.Logger.Warn("SMTP_URL is not set: POST /auth/recover, /auth/verify and /auth/verify/resend answer 501 (no password reset or e-mail verification by e-mail)")
		}
		return
	}
	a.mailOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		a.stopMail = cancel
		a.mailDone = make(chan struct{})
		go func() {
			defer close(a.mailDone)
			a.mailSender.Run(ctx)
		}()
		switch cfg := a.Config; {
		case cfg.SMTPURL != "":
			sc, _ := mail.ParseSMTPURL(cfg.SMTPURL)
			a.Logger.Info("sending e-mail", "smtp", sc.String(), "from", cfg.MailFrom, "templates_overridden", a.mailTemplates,
				"instance", a.mailSender.Owner())
		default:
			a.Logger.Warn("SMTP_URL is not set: e-mail is not sent; each link is logged instead, for development only")
		}
	})
}

// stopMailSender stops the sender StartMail started and waits for it.
func (a *App) stopMailSender() {
	if a.stopMail != nil {
		a.stopMail()
		<-a.mailDone
	}
}
