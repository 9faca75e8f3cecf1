package mail_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/mail"
	"github.com/latchkey-dev/latchkey/store"
)

func data() mail.Data {
	return mail.Data{Email: "user@example.com", Link: `https://app.example.com/reset#t=a"b<c>`, ExpiresIn: "1 hour"}
}

// TestDefaultTemplates: every kind renders a one-line subject, and the link
// in both bodies; in the HTML it is escaped by html/template.
func TestDefaultTemplates(t *testing.T) {
	tm, err := mail.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range mail.Kinds {
		r, err := tm.Render(k, data())
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if r.Subject == "" || strings.ContainsAny(r.Subject, "\r\n") {
			t.Errorf("%s: subject %q", k, r.Subject)
		}
		if !strings.Contains(r.Text, data().Link) || !strings.Contains(r.Text, "1 hour") {
			t.Errorf("%s: the text part lacks the link or its lifetime:\n%s", k, r.Text)
		}
		if strings.Contains(r.HTML, `a"b<c>`) || !strings.Contains(r.HTML, "https://app.example.com/reset#t=a%22b%3cc%3e") {
			t.Errorf("%s: the HTML part does not hold the link escaped:\n%s", k, r.HTML)
		}
	}
}

// TestTemplatesOverride: a file in MAIL_TEMPLATES_DIR replaces the built-in
// template of the same name and the others stay; a template that renders a
// subject of two lines (a header injection), that names a field that does
// not exist, or that does not parse stops the load.
func TestTemplatesOverride(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("password_reset.subject", "ACME: new password for {{.Email}}\n")
	write("password_reset.html", `<a href="{{.Link}}">ACME</a>`)
	tm, err := mail.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tm.Overridden, ",") != "password_reset.subject,password_reset.html" {
		t.Errorf("Overridden = %q", tm.Overridden)
	}
	r, err := tm.Render(store.TokenPasswordReset, data())
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "ACME: new password for user@example.com" || !strings.HasPrefix(r.HTML, `<a href="https://app.example.com/reset#t=a%22b%3cc%3e">ACME`) {
		t.Errorf("override not used: %+v", r)
	}
	if !strings.Contains(r.Text, "reset the password") {
		t.Errorf("the built-in text part was not kept:\n%s", r.Text)
	}

	for name, body := range map[string]string{
		"email_verification.subject": "Confirm\nBcc: victim@example.com",
		"email_verification.txt":     "{{.Token}}",
		"email_verification.html":    "{{if}}",
	} {
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := mail.LoadTemplates(bad); err == nil || !strings.Contains(err.Error(), "email_verification") {
			t.Errorf("%s %q: loaded (%v)", name, body, err)
		}
	}
	if _, err := mail.LoadTemplates(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing directory loaded")
	}
}

func TestWords(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1 hour", 90 * time.Minute: "90 minutes", 24 * time.Hour: "24 hours",
		72 * time.Hour: "3 days", 30 * time.Second: "30 seconds", time.Minute: "1 minute"} {
		if got := mail.Words(d); got != want {
			t.Errorf("Words(%s) = %q, want %q", d, got, want)
		}
	}
}
