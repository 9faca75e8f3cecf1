package config

import (
	"encoding"
	"fmt"
	"net/url"
	"strings"
)

// Placeholders Settings shows instead of a secret.
const (
	Redacted = "[redacted]"
	Unset    = "[unset]"
)

// Setting is one configuration value as `latchkey config` prints it.
type Setting struct {
	Env     string // environment variable, such as "JWT_EXPIRES_IN"
	Flag    string // flag of latchkey serve, such as "--jwt-expires-in"
	Value   string // effective value; secrets redacted
	Default string // default as written in the table of docs/configuration.md
	Help    string
	Secret  bool // the value is, or may contain, a secret
}

// Settings returns every setting with its effective value, in the order of
// Config's fields. Secrets (REFRESH_TOKEN_SECRET, JWT_SECRET) read
// "[redacted]", or "[unset]" when empty; the passwords inside DATABASE_URL and
// REDIS_URL read "[redacted]" and the rest of the URL is kept.
func (c Config) Settings() []Setting {
	fields := fieldsOf(&c)
	out := make([]Setting, 0, len(fields))
	for _, f := range fields {
		value := format(f.flag.Target.Interface())
		switch f.secret {
		case "value":
			value = redactValue(value)
		case "password":
			value = redactURL(value)
		}
		out = append(out, Setting{
			Env:     f.env,
			Flag:    "--" + f.flag.Name,
			Value:   value,
			Default: f.flag.Default,
			Help:    f.flag.Help,
			Secret:  f.secret != "",
		})
	}
	return out
}

func format(v any) string {
	if m, ok := v.(encoding.TextMarshaler); ok {
		if b, err := m.MarshalText(); err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}

func redactValue(s string) string {
	if s == "" {
		return Unset
	}
	return Redacted
}

// redactURL hides the password of a URL's user information and a password
// query parameter (PostgreSQL accepts both). A value that is not a
// scheme://… URL is hidden whole: it may be a key=value DSN with a password.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return Redacted
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "REDACTED")
		u.RawQuery = strings.Replace(q.Encode(), "password=REDACTED", "password="+Redacted, 1)
	}
	if _, ok := u.User.Password(); !ok {
		return u.String()
	}
	u.User = url.User(u.User.Username())
	// The username is escaped by String, so the first "@" ends it.
	return strings.Replace(u.String(), "@", ":"+Redacted+"@", 1)
}
