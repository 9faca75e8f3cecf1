package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/server/servertest"
)

// A receiver credential never reaches the log, even where a confused client
// puts it: in a path segment (its stream id and credential swapped) or as a
// JSON key that an error message quotes. The access log redacts lkr_
// credentials as it redacts JWTs.
func TestReceiverCredentialNeverLogged(t *testing.T) {
	s := servertest.Start(t, nil)
	auth := receiver(t, s, "api")
	cred := strings.TrimPrefix(auth, "Authorization: Bearer ")
	if r := s.Do(t, "POST", "/ssf/poll/"+cred, map[string]any{}, auth); r.Status != http.StatusNotFound {
		t.Errorf("poll of a credential as a stream id = %d %s, want 404", r.Status, r.Body)
	}
	body := `{"` + cred + `": 1, "` + cred + `": 2}`
	if r := s.Do(t, "POST", "/ssf/stream", body, auth, "Content-Type: application/json"); r.Status != http.StatusBadRequest {
		t.Errorf("a repeated key = %d %s, want 400", r.Status, r.Body)
	}
	secret := strings.TrimPrefix(cred, "lkr_")
	if logs := s.Logs.String(); strings.Contains(logs, secret) {
		t.Errorf("the receiver credential is in the log:\n%s", logs)
	}
}
