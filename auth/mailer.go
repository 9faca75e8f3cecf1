package auth

import (
	"context"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// MailRequest is an e-mail of the account flows: a link carrying Token, to
// the user's address.
type MailRequest struct {
	Kind      store.TokenKind
	To        string // the user's (normalised) address
	Token     string // the single-use token the link carries
	IssuedAt  time.Time
	ExpiresAt time.Time // when the token stops working
}

// Mailer turns the account flows' requests into queued mail (package mail
// implements it with templates, sealing and an SMTP sender). The domain
// composes a message and hands it to the store in the same transaction as
// the token it carries; a sender working from the store's queue delivers
// it, so a request never waits for the mail server.
type Mailer interface {
	// Compose returns r as a message ready to queue (store.Mail, its
	// payload sealed). It does no I/O.
	Compose(ctx context.Context, r MailRequest) (store.Mail, error)
	// Queued is told when a composed message has been committed to the
	// queue, so a sender in this process can start at once. It must not
	// block.
	Queued()
}
