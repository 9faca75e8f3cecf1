package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"net/url"
	"time"
)

// SMTPConfig is a mail server, as SMTP_URL names it.
type SMTPConfig struct {
	Host string
	Port string
	// ImplicitTLS is smtps:// (RFC 8314 §3.3: TLS from the first byte);
	// otherwise smtp:// upgrades with STARTTLS whenever the server offers
	// it (RFC 3207).
	ImplicitTLS bool
	// Username and Password, when set, authenticate with AUTH PLAIN (RFC
	// 4616), which net/smtp sends only over TLS or to localhost.
	Username string
	Password string
}

// ParseSMTPURL reads SMTP_URL: smtp://[user:pass@]host[:port] (port 587,
// STARTTLS when offered) or smtps://[user:pass@]host[:port] (port 465,
// implicit TLS). The user and password are URL-encoded. Errors never repeat
// the URL: it may hold a password.
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	const want = "want smtp://user:pass@host:587 (STARTTLS when offered) or smtps://user:pass@host:465 (TLS)"
	u, err := url.Parse(raw)
	if err != nil {
		return SMTPConfig{}, fmt.Errorf("not a URL; %s", want)
	}
	var c SMTPConfig
	switch u.Scheme {
	case "smtp":
		c.Port = "587"
	case "smtps":
		c.ImplicitTLS, c.Port = true, "465"
	default:
		return SMTPConfig{}, fmt.Errorf("unsupported scheme %q; %s", u.Scheme, want)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return SMTPConfig{}, fmt.Errorf("no host; %s", want)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return SMTPConfig{}, fmt.Errorf("a path, query or fragment is not understood; %s", want)
	}
	c.Host = u.Hostname()
	if p := u.Port(); p != "" {
		c.Port = p
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
		if c.Username == "" {
			return SMTPConfig{}, fmt.Errorf("a password without a user name; %s", want)
		}
	}
	if hasControl(c.Username) || hasControl(c.Password) {
		return SMTPConfig{}, errors.New("the user name or password contains a control character")
	}
	return c, nil
}

// SMTP sends messages to one mail server. Each Send is one connection:
// mail is rare (a reset, a verification) and a fresh connection survives
// the server's restarts.
type SMTP struct {
	cfg SMTPConfig
	// TLS is the TLS configuration (nil: the system's roots, with the
	// server's host name); tests set a RootCAs of their own.
	TLS *tls.Config
	// LocalName is sent in EHLO ("localhost" when empty).
	LocalName string
	// Timeout bounds one Send, connection included.
	Timeout time.Duration
}

// NewSMTP returns a transport to the server cfg names.
func NewSMTP(cfg SMTPConfig, timeout time.Duration) *SMTP {
	return &SMTP{cfg: cfg, Timeout: timeout}
}

// PermanentError is a refusal that sending again will not change: the
// server refused the recipient for good (a 5xx reply to RCPT TO, RFC 5321
// §4.2.1). Every other failure (no connection, a 4xx, a 5xx to another
// command, which is more likely the server's configuration than the
// message) is worth a retry.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Send delivers m through the server: EHLO, STARTTLS when offered (smtp://),
// AUTH when a user is configured, MAIL FROM, RCPT TO, DATA, QUIT.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg, err := m.Bytes(time.Now())
	if err != nil {
		return &PermanentError{err}
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(s.cfg.Host, s.cfg.Port)
	tlsConf := s.tlsConfig()
	var conn net.Conn
	if s.cfg.ImplicitTLS {
		conn, err = (&tls.Dialer{Config: tlsConf}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("smtp: connect to %s: %w", addr, err)
	}
	// The deadline bounds every reply the server owes us; the context's end
	// closes the connection under a blocked read.
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %s: greeting: %w", addr, err)
	}
	defer c.Close()
	if err := s.session(c, m, msg); err != nil {
		return fmt.Errorf("smtp: %s: %w", addr, err)
	}
	return nil
}

func (s *SMTP) tlsConfig() *tls.Config {
	c := &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
	if s.TLS != nil {
		c = s.TLS.Clone()
		if c.ServerName == "" {
			c.ServerName = s.cfg.Host
		}
	}
	return c
}

func (s *SMTP) session(c *smtp.Client, m Message, msg []byte) error {
	local := s.LocalName
	if local == "" {
		local = "localhost"
	}
	if err := c.Hello(local); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if !s.cfg.ImplicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
		}
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := c.Mail(m.From.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 {
			return &PermanentError{fmt.Errorf("RCPT TO: %w", err)}
		}
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	// The message is accepted; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// String describes the server without its credentials, for logs.
func (c SMTPConfig) String() string {
	scheme := "smtp"
	if c.ImplicitTLS {
		scheme = "smtps"
	}
	user := ""
	if c.Username != "" {
		user = "***@" // the user name is a credential too
	}
	return scheme + "://" + user + net.JoinHostPort(c.Host, c.Port)
}
