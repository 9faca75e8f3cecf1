package mail_test

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/mail"
)

func message() mail.Message {
	return mail.Message{From: netmail.Address{Name: "Latchkey", Address: "no-reply@example.com"}, To: "user@example.com",
		Subject: "Reset your password", Text: "Open https://app.example.com/#reset=abc\n", HTML: `<p><a href="https://app.example.com/#reset=abc">reset</a></p>`,
		Link: "https://app.example.com/#reset=abc"}
}

// TestMessageBytes: the message parses back (net/mail, mime/multipart) to
// exactly one of each header, the subject and both parts intact.
func TestMessageBytes(t *testing.T) {
	m := message()
	m.Subject = "Réinitialiser — ton mot de passe"
	m.From.Name = "Équipe, \"Latchkey\""
	b, err := m.Bytes(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"From", "To", "Subject", "Date", "Message-Id", "Mime-Version", "Content-Type"} {
		if n := len(msg.Header[h]); n != 1 {
			t.Errorf("%d %s headers, want 1", n, h)
		}
	}
	dec := new(mime.WordDecoder)
	if s, err := dec.DecodeHeader(msg.Header.Get("Subject")); err != nil || s != m.Subject {
		t.Errorf("Subject decodes to %q (%v), want %q", s, err, m.Subject)
	}
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != m.From.Name || from[0].Address != m.From.Address {
		t.Errorf("From = %v (%v), want %v", from, err, m.From)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != m.To {
		t.Errorf("To = %v (%v), want %s", to, err, m.To)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var bodies []string
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		bodies = append(bodies, string(body))
	}
	if len(bodies) != 2 || !strings.Contains(bodies[0], m.Link) || !strings.Contains(bodies[1], m.Link) {
		t.Errorf("parts %q, want a text and an HTML part with the link", bodies)
	}
}

// TestHeaderInjection: no field of a message can add a header or a
// recipient: line breaks and other control characters, lists of
// addresses, display names where a bare address is expected, oversized
// fields, all refused before anything is written.
func TestHeaderInjection(t *testing.T) {
	cases := map[string]func(m *mail.Message){
		"to with CRLF":           func(m *mail.Message) { m.To = "user@example.com\r\nBcc: victim@example.com" },
		"to with LF":             func(m *mail.Message) { m.To = "user@example.com\nBcc: victim@example.com" },
		"to as a list":           func(m *mail.Message) { m.To = "user@example.com, victim@example.com" },
		"to with a name":         func(m *mail.Message) { m.To = "Victim <victim@example.com>" },
		"to with a NUL":          func(m *mail.Message) { m.To = "user\x00@example.com" },
		"to too long":            func(m *mail.Message) { m.To = strings.Repeat("a", 250) + "@example.com" },
		"to with a line sep":     func(m *mail.Message) { m.To = "user\u2028@example.com" },
		"subject with CRLF":      func(m *mail.Message) { m.Subject = "Reset\r\nBcc: victim@example.com" },
		"subject with CR":        func(m *mail.Message) { m.Subject = "Reset\rBcc: victim@example.com" },
		"subject with a tab":     func(m *mail.Message) { m.Subject = "Reset\tnow" },
		"subject too long":       func(m *mail.Message) { m.Subject = strings.Repeat("x", mail.MaxSubject+1) },
		"subject empty":          func(m *mail.Message) { m.Subject = "  " },
		"from name with CRLF":    func(m *mail.Message) { m.From.Name = "Latchkey\r\nBcc: victim@example.com" },
		"from address with CRLF": func(m *mail.Message) { m.From.Address = "a@example.com\r\nBcc: v@example.com" },
		"body too long":          func(m *mail.Message) { m.Text = strings.Repeat("x", mail.MaxBody+1) },
		"body not UTF-8":         func(m *mail.Message) { m.HTML = "\xff\xfe" },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			m := message()
			mod(&m)
			if b, err := m.Bytes(time.Now()); err == nil {
				t.Fatalf("accepted:\n%s", b)
			}
		})
	}
	for _, from := range []string{"a@example.com\r\nBcc: v@example.com", "a@example.com, b@example.com", "not an address", ""} {
		if _, err := mail.ParseFrom(from); err == nil {
			t.Errorf("ParseFrom(%q) accepted", from)
		}
	}
	if a, err := mail.ParseFrom(`"Latchkey" <no-reply@example.com>`); err != nil || a.Name != "Latchkey" {
		t.Errorf("ParseFrom refused a name and address: %v", err)
	}
}

// TestParseSMTPURL: the schemes, default ports and credentials of SMTP_URL,
// and its refusals, whose messages never repeat the password.
func TestParseSMTPURL(t *testing.T) {
	for raw, want := range map[string]mail.SMTPConfig{
		"smtp://mail.example.com":                     {Host: "mail.example.com", Port: "587"},
		"smtp://mail.example.com:25":                  {Host: "mail.example.com", Port: "25"},
		"smtps://u%40x:p%3Ass@mail.example.com":       {Host: "mail.example.com", Port: "465", ImplicitTLS: true, Username: "u@x", Password: "p:ss"},
		"smtp://user:secret@[::1]:2525/":              {Host: "::1", Port: "2525", Username: "user", Password: "secret"},
		"smtps://apikey:SG.x-y_z@smtp.example.net:26": {Host: "smtp.example.net", Port: "26", ImplicitTLS: true, Username: "apikey", Password: "SG.x-y_z"},
	} {
		got, err := mail.ParseSMTPURL(raw)
		if err != nil || got != want {
			t.Errorf("ParseSMTPURL(%q) = %+v, %v; want %+v", raw, got, err, want)
		}
		if strings.Contains(got.String(), "secret") || strings.Contains(got.String(), "p:ss") {
			t.Errorf("String() shows the password: %s", got)
		}
	}
	for _, raw := range []string{"http://mail.example.com", "smtp://", "smtp://:pw@host", "smtp://host/path", "smtp://host?tls=no",
		"mail.example.com:25", "smtp://u:p%0D%0A@host", "smtp://user:secretpw@host/x"} {
		_, err := mail.ParseSMTPURL(raw)
		if err == nil {
			t.Errorf("ParseSMTPURL(%q) accepted", raw)
		} else if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("ParseSMTPURL(%q): the error shows the password: %v", raw, err)
		}
	}
}

// TestSealer: a sealed message opens with the same secret and queue id
// only.
func TestSealer(t *testing.T) {
	secret := bytes.Repeat([]byte("k"), 32)
	s, err := mail.NewSealer(secret)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := mail.NewSealer(bytes.Repeat([]byte("o"), 32))
	m := message()
	payload, err := mail.Seal(s, "id-1", m)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(payload, []byte("reset=abc")) || bytes.Contains(payload, []byte("user@example.com")) {
		t.Fatal("the sealed payload shows the link or the address")
	}
	got, err := mail.Open(s, "id-1", payload)
	if err != nil || got != m {
		t.Fatalf("Open = %+v, %v; want %+v", got, err, m)
	}
	if _, err := mail.Open(s, "id-2", payload); !errors.Is(err, mail.ErrUnsealable) {
		t.Errorf("opened under another queue id: %v", err)
	}
	if _, err := mail.Open(other, "id-1", payload); !errors.Is(err, mail.ErrUnsealable) {
		t.Errorf("opened with another secret: %v", err)
	}
	if _, err := mail.NewSealer([]byte("short")); err == nil {
		t.Error("NewSealer accepted a short secret")
	}
}
