package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

//go:embed templates/*
var defaults embed.FS

// Kinds are the messages Latchkey sends, named like the tokens they carry.
var Kinds = []store.TokenKind{store.TokenPasswordReset, store.TokenEmailVerification}

// Parts of a message's template: each kind has one file per part, named
// <kind>.<part> (password_reset.subject, password_reset.txt,
// password_reset.html).
var parts = []string{"subject", "txt", "html"}

// Data is what a template sees.
type Data struct {
	Email     string // the recipient
	Link      string // the link with the token
	ExpiresIn string // how long the link works, in words ("1 hour")
}

// Templates render the messages. Subject and text are text/template; the
// HTML part is html/template, which escapes the data by context (the link in
// an href attribute included).
type Templates struct {
	subject, text map[store.TokenKind]*texttemplate.Template
	html          map[store.TokenKind]*htmltemplate.Template
	// Overridden lists the files taken from the operator's directory.
	Overridden []string
}

// LoadTemplates parses the built-in templates, each replaced by the file of
// the same name in dir when dir (MAIL_TEMPLATES_DIR) is not empty and has
// one. Every template is executed once with sample data, so a template
// that fails, or renders a subject that is not one line, stops start-up
// rather than a reset.
func LoadTemplates(dir string) (*Templates, error) {
	t := &Templates{subject: map[store.TokenKind]*texttemplate.Template{}, text: map[store.TokenKind]*texttemplate.Template{},
		html: map[store.TokenKind]*htmltemplate.Template{}}
	if dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("MAIL_TEMPLATES_DIR: %s is not a readable directory", dir)
		}
	}
	for _, k := range Kinds {
		for _, p := range parts {
			name := string(k) + "." + p
			src, err := fs.ReadFile(defaults, "templates/"+name)
			if err != nil {
				return nil, err
			}
			if dir != "" {
				b, err := os.ReadFile(filepath.Join(dir, name))
				switch {
				case err == nil:
					src = b
					t.Overridden = append(t.Overridden, name)
				case !errors.Is(err, fs.ErrNotExist):
					return nil, fmt.Errorf("MAIL_TEMPLATES_DIR: %w", err)
				}
			}
			if err := t.parse(k, p, name, string(src)); err != nil {
				return nil, fmt.Errorf("mail template %s: %w", name, err)
			}
		}
		sample := Data{Email: "someone@example.com", Link: "https://example.com/#token=sample", ExpiresIn: "1 hour"}
		if _, err := t.Render(k, sample); err != nil {
			return nil, fmt.Errorf("mail template %s: %w", k, err)
		}
	}
	return t, nil
}

func (t *Templates) parse(k store.TokenKind, part, name, src string) error {
	opt := "missingkey=error"
	var err error
	switch part {
	case "subject":
		t.subject[k], err = texttemplate.New(name).Option(opt).Parse(src)
	case "txt":
		t.text[k], err = texttemplate.New(name).Option(opt).Parse(src)
	case "html":
		t.html[k], err = htmltemplate.New(name).Option(opt).Parse(src)
	}
	return err
}

// Rendered is a message's rendered parts.
type Rendered struct{ Subject, Text, HTML string }

// Render renders the message of kind k with d. The subject is trimmed and
// must be one line (a line break would add a header), at most MaxSubject
// bytes.
func (t *Templates) Render(k store.TokenKind, d Data) (Rendered, error) {
	if t.subject[k] == nil {
		return Rendered{}, fmt.Errorf("mail: no template for %q", k)
	}
	var r Rendered
	var b bytes.Buffer
	if err := t.subject[k].Execute(&b, d); err != nil {
		return Rendered{}, err
	}
	r.Subject = strings.TrimSpace(b.String())
	if r.Subject == "" || hasControl(r.Subject) || len(r.Subject) > MaxSubject {
		return Rendered{}, fmt.Errorf("the subject must be one line of at most %d bytes", MaxSubject)
	}
	b.Reset()
	if err := t.text[k].Execute(&b, d); err != nil {
		return Rendered{}, err
	}
	r.Text = b.String()
	b.Reset()
	if err := t.html[k].Execute(&b, d); err != nil {
		return Rendered{}, err
	}
	r.HTML = b.String()
	if len(r.Text) > MaxBody || len(r.HTML) > MaxBody {
		return Rendered{}, fmt.Errorf("a body is longer than %d bytes", MaxBody)
	}
	return r, nil
}

// Words says d in words for a message: "1 hour", "90 minutes", "2 days".
func Words(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int64(d/time.Minute), "minute")
	}
	return plural(max(int64(d/time.Second), 1), "second")
}
