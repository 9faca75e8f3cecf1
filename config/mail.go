package config

import (
	"fmt"
	"net/url"

	"github.com/latchkey-dev/latchkey/mail"
)

// validateMail checks the e-mail settings: SMTP_URL and MAIL_FROM parse
// (and the latter is set with the former), the links are absolute URLs
// (https in production: they carry a token), the durations are positive,
// and e-mail verification is not required in production without a mail
// server (no user could ever sign in).
func (c *Config) validateMail(bad func(env, format string, args ...any), positive func(env string, d Duration)) {
	if c.SMTPURL != "" {
		if _, err := mail.ParseSMTPURL(c.SMTPURL); err != nil {
			bad("SMTP_URL", "%v", err)
		}
		if c.MailFrom == "" {
			bad("MAIL_FROM", "required with SMTP_URL: the From of the e-mails, such as \"Example <no-reply@example.com>\"")
		}
	}
	if c.MailFrom != "" {
		if _, err := mail.ParseFrom(c.MailFrom); err != nil {
			bad("MAIL_FROM", "%v", err)
		}
	}
	for _, l := range []struct{ env, value string }{{"PASSWORD_RESET_URL", c.PasswordResetURL}, {"EMAIL_VERIFICATION_URL", c.EmailVerificationURL}} {
		if l.value != "" {
			if err := checkLinkURL(l.value, c.Production()); err != nil {
				bad(l.env, "%v", err)
			}
		}
	}
	positive("MAIL_SEND_TIMEOUT", c.MailSendTimeout)
	positive("MAIL_POLL_INTERVAL", c.MailPollInterval)
	positive("MAIL_RETRY_BACKOFF", c.MailRetryBackoff)
	if c.MailRetryBackoffMax < c.MailRetryBackoff {
		bad("MAIL_RETRY_BACKOFF_MAX", "%s is shorter than MAIL_RETRY_BACKOFF (%s)", c.MailRetryBackoffMax, c.MailRetryBackoff)
	}
	positive("PASSWORD_RESET_EXPIRES_IN", c.PasswordResetExpiresIn)
	positive("EMAIL_VERIFICATION_EXPIRES_IN", c.EmailVerificationExpiresIn)
	if c.RequireEmailVerification.On() && c.Production() && c.SMTPURL == "" {
		bad("REQUIRE_EMAIL_VERIFICATION", "on needs SMTP_URL when APP_ENV=production: without a mail server no new user could verify an address and sign in")
	}
}

// checkLinkURL refuses a link base that is not an absolute http(s) URL
// (https in production: the link carries a token). A query or fragment is
// fine: the token is appended to the value as it is.
func checkLinkURL(s string, production bool) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		return fmt.Errorf("invalid URL %q: want an absolute URL such as https://app.example.com/reset#token=", s)
	case u.Scheme != "https" && (production || u.Scheme != "http"):
		return fmt.Errorf("invalid URL %q: the link carries a token, so it must be https (http only outside production)", s)
	case u.User != nil:
		return fmt.Errorf("invalid URL %q: no user information", s)
	}
	return nil
}
