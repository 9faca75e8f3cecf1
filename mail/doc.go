// Package mail sends Latchkey's e-mails: the password-reset and e-mail
// verification links of the account flows.
//
// The domain (package auth) never waits for a mail server. It asks a
// Composer for a message (the link, the operator's templates, a check that
// no field can add a header), which comes back sealed (encrypted under a
// server secret: it carries a token whose hash alone is stored), and the
// store queues it in the same transaction as the token. A Sender per
// process works from that durable queue: it leases due messages (so N
// instances send each once), delivers them through a Transport (SMTP with
// STARTTLS or implicit TLS, or in development a log line), deletes what was
// sent, and retries failures with exponential backoff until the link
// expires. A mail-server outage delays mail and loses none; a process
// killed mid-send leaves a lease that lapses, and another sender (or the
// restarted one) sends the message.
package mail
