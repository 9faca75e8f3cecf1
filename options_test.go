package latchkey_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/store/sqlite"
)

// New refuses an Issuer or PublicURL that cannot be the base of its
// endpoint URLs, as the binary's configuration does: with a trailing slash
// the metadata would advertise https://auth.example.com//oauth/token and
// resource servers would expect an iss that differs by a slash.
func TestNewRefusesBadBaseURLs(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	opts := func(issuer, public string) latchkey.Options {
		return latchkey.Options{Store: db, Issuer: issuer, PublicURL: public, RefreshSecret: []byte(strings.Repeat("r", 32)),
			Hasher: password.New(password.Cheap, 1, 1)}
	}
	for _, c := range []struct{ issuer, public, field string }{
		{"https://auth.example.com/", "", "Options.Issuer"},
		{"https://auth.example.com/auth/", "", "Options.Issuer"},
		{"auth.example.com", "", "Options.Issuer"},
		{"ftp://auth.example.com", "", "Options.Issuer"},
		{"https://auth.example.com?x=1", "", "Options.Issuer"},
		{"https://auth.example.com", "https://edge.example.com/", "Options.PublicURL"},
		{"https://auth.example.com", "https://user@edge.example.com", "Options.PublicURL"},
	} {
		_, err := latchkey.New(ctx, opts(c.issuer, c.public))
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("New(Issuer %q, PublicURL %q) = %v; want an error naming %s", c.issuer, c.public, err, c.field)
		}
	}
	if _, err := latchkey.New(ctx, opts("https://auth.example.com/auth", "https://edge.example.com/auth")); err != nil {
		t.Fatalf("valid base URLs refused: %v", err)
	}
}
