package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"

	"github.com/google/uuid"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/store"
)

// Composer composes the account e-mails (auth.Mailer): it builds the link
// (the token appended to the configured URL), renders the templates, checks
// the message and seals it for the queue.
type Composer struct {
	From      mail.Address
	Templates *Templates
	Sealer    *Sealer
	// Links are the URLs each kind's token is appended to, as they are
	// (PASSWORD_RESET_URL, EMAIL_VERIFICATION_URL): "https://app/reset#token="
	// gives "https://app/reset#token=<token>".
	Links map[store.TokenKind]string
	// Wake, when set, is called by Queued (Sender.Wake).
	Wake func()
}

var _ auth.Mailer = (*Composer)(nil)

// Compose renders and seals the message r asks for.
func (c *Composer) Compose(_ context.Context, r auth.MailRequest) (store.Mail, error) {
	base, ok := c.Links[r.Kind]
	if !ok {
		return store.Mail{}, fmt.Errorf("mail: no link configured for %q", r.Kind)
	}
	if r.Token == "" || !r.ExpiresAt.After(r.IssuedAt) {
		return store.Mail{}, errors.New("mail: a request needs a token and an expiry after its issue")
	}
	link := base + r.Token
	body, err := c.Templates.Render(r.Kind, Data{Email: r.To, Link: link, ExpiresIn: Words(r.ExpiresAt.Sub(r.IssuedAt))})
	if err != nil {
		return store.Mail{}, fmt.Errorf("mail: render %s: %w", r.Kind, err)
	}
	m := Message{From: c.From, To: r.To, Subject: body.Subject, Text: body.Text, HTML: body.HTML, Link: link}
	if err := m.Check(); err != nil {
		return store.Mail{}, err
	}
	id := uuid.NewString()
	payload, err := c.Sealer.seal(id, m)
	if err != nil {
		return store.Mail{}, err
	}
	return store.Mail{ID: id, Kind: string(r.Kind), Payload: payload, CreatedAt: r.IssuedAt, NotAfter: r.ExpiresAt}, nil
}

// Queued wakes the sender of this process.
func (c *Composer) Queued() {
	if c.Wake != nil {
		c.Wake()
	}
}
