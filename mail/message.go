package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of a message's fields. An address is at most 254 bytes (RFC 5321
// §4.5.3.1.3 bounds a path at 256 octets, brackets included); a subject is
// one short line; a body is a few kilobytes, far below what any server
// accepts.
const (
	MaxAddress = 254
	MaxSubject = 200
	MaxBody    = 64 << 10
)

// Message is one e-mail: a plain-text and an HTML alternative of the same
// content. Link is the link it carries, kept beside the body for the
// development transport, which logs it instead of sending anything.
type Message struct {
	From    mail.Address
	To      string // a bare address (addr-spec), never with a display name
	Subject string
	Text    string
	HTML    string
	Link    string
}

// ParseFrom parses MAIL_FROM: an address with an optional display name
// ("Latchkey <no-reply@example.com>"), which is re-encoded when the message
// is written (RFC 2047), so no value can add a header.
func ParseFrom(s string) (mail.Address, error) {
	if hasControl(s) {
		return mail.Address{}, errors.New("contains a control character (a line break would add a header)")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return mail.Address{}, fmt.Errorf("not an e-mail address (want no-reply@example.com or \"Name <no-reply@example.com>\"): %w", err)
	}
	if err := CheckAddress(a.Address); err != nil {
		return mail.Address{}, err
	}
	return *a, nil
}

// CheckAddress reports why addr cannot be a recipient or sender: it must
// be one bare address (addr-spec, RFC 5322 §3.4.1) exactly as net/mail
// reads it, of at most MaxAddress bytes, with no control character, so it
// can neither add a header nor a second recipient, nor break the SMTP
// command it goes into.
func CheckAddress(addr string) error {
	switch {
	case addr == "":
		return errors.New("empty address")
	case len(addr) > MaxAddress:
		return fmt.Errorf("address longer than %d bytes", MaxAddress)
	case !utf8.ValidString(addr) || hasControl(addr):
		return errors.New("address with a control character or invalid UTF-8")
	}
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Name != "" || a.Address != addr {
		return fmt.Errorf("%q is not one bare e-mail address", addr)
	}
	return nil
}

// hasControl reports whether s holds a control character (CR and LF among
// them) or a Unicode line or paragraph separator.
func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	}) >= 0
}

// Check reports why m cannot be sent: a bad address, a subject that is not
// one line of at most MaxSubject bytes, or a body over MaxBody.
func (m Message) Check() error {
	if err := CheckAddress(m.From.Address); err != nil {
		return fmt.Errorf("mail: from: %w", err)
	}
	if hasControl(m.From.Name) {
		return errors.New("mail: from: the display name contains a control character")
	}
	if err := CheckAddress(m.To); err != nil {
		return fmt.Errorf("mail: to: %w", err)
	}
	switch {
	case strings.TrimSpace(m.Subject) == "":
		return errors.New("mail: empty subject")
	case len(m.Subject) > MaxSubject:
		return fmt.Errorf("mail: subject longer than %d bytes", MaxSubject)
	case !utf8.ValidString(m.Subject) || hasControl(m.Subject):
		return errors.New("mail: the subject is not one line of text (a control character or line break would add a header)")
	case len(m.Text) > MaxBody || len(m.HTML) > MaxBody:
		return fmt.Errorf("mail: a body is longer than %d bytes", MaxBody)
	case !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML):
		return errors.New("mail: a body is not valid UTF-8")
	}
	return nil
}

// Bytes returns m as an RFC 5322 message with CRLF line ends: the headers
// (each value encoded by the mime and net/mail packages, after Check), then
// a multipart/alternative body (RFC 2046 §5.1.4) of the text and HTML
// parts, quoted-printable, UTF-8. date is the Date header.
func (m Message) Bytes(date time.Time) ([]byte, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ ctype, content string }{
		{"text/plain; charset=utf-8", m.Text},
		{"text/html; charset=utf-8", m.HTML},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(crlf(part.content))); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}

	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	to := mail.Address{Address: m.To}
	header("From", m.From.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", messageID(m.From.Address))
	header("MIME-Version", "1.0")
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	header("Auto-Submitted", "auto-generated") // RFC 3834 §5: no auto-replies to this
	b.WriteString("\r\n")
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

// crlf makes every line end of s a CRLF, as RFC 5322 §2.3 requires.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// messageID returns a unique Message-ID in the sender's domain (RFC 5322
// §3.6.4).
func messageID(from string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	domain := from[strings.LastIndexByte(from, '@')+1:]
	return "<" + hex.EncodeToString(b[:]) + "@" + domain + ">"
}
