package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// latchkey ssf receiver create prints a credential (alone, once) that the
// running server accepts; list shows the receiver; delete makes the
// credential fail at once. A taken or malformed name is an error.
func TestSSFReceiverCommands(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "l.db")
	s := servertest.Start(t, func(c *config.Config) { c.DatabaseURL = db })
	flags := []string{"--database-url", db, "--log-level", "error"}
	code, out, errs := cli(t, "", append([]string{"ssf", "receiver", "create", "orders-api", "--audience", "https://orders.example"}, flags...)...)
	cred := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(cred, "lkr_") || strings.Contains(cred, "\n") {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	if r := s.Do(t, "GET", "/ssf/stream", nil, "Authorization: Bearer "+cred); r.Status != http.StatusOK {
		t.Fatalf("the new credential: %d %s", r.Status, r.Body)
	}
	if code, _, errs := cli(t, "", append([]string{"ssf", "receiver", "create", "orders-api"}, flags...)...); code == 0 || !strings.Contains(errs, "exists") {
		t.Errorf("create with a taken name: %d %q", code, errs)
	}
	if code, _, errs := cli(t, "", append([]string{"ssf", "receiver", "create", "bad name!"}, flags...)...); code == 0 || !strings.Contains(errs, "name") {
		t.Errorf("create with a bad name: %d %q", code, errs)
	}
	s.Do(t, "POST", "/ssf/stream", map[string]any{}, "Authorization: Bearer "+cred)
	code, out, _ = cli(t, "", append([]string{"ssf", "receiver", "list"}, flags...)...)
	if code != 0 || !strings.Contains(out, "orders-api") || !strings.Contains(out, "https://orders.example") || strings.Contains(out, cred) {
		t.Fatalf("list: %d %s", code, out)
	}
	if fields := strings.Fields(strings.Split(out, "\n")[1]); len(fields) < 3 || fields[2] != "1" {
		t.Errorf("list shows %q; want one stream", out)
	}
	if code, out, errs := cli(t, "", append([]string{"ssf", "receiver", "delete", "orders-api"}, flags...)...); code != 0 || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %d %s %s", code, out, errs)
	}
	if r := s.Do(t, "GET", "/ssf/stream", nil, "Authorization: Bearer "+cred); r.Status != http.StatusUnauthorized {
		t.Errorf("a deleted receiver's credential: %d", r.Status)
	}
	if code, _, _ := cli(t, "", append([]string{"ssf", "receiver", "delete", "orders-api"}, flags...)...); code == 0 {
		t.Error("deleting an unknown receiver succeeded")
	}
}
