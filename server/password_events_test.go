package server_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/server/servertest"
	"github.com/latchkey-dev/latchkey/ssf"
)

// set is what a test reads of a delivered SET.
type set struct {
	Txn   string `json:"txn"`
	SubID struct {
		Format  string `json:"format"`
		Sub     string `json:"sub"`
		Session struct {
			ID string `json:"id"`
		} `json:"session"`
		User struct {
			Sub string `json:"sub"`
		} `json:"user"`
	} `json:"sub_id"`
	Events map[string]map[string]any `json:"events"`
}

// TestPasswordChangesAreEvents: through the real server and its Shared
// Signals transmitter, a password change is a CAEP session-revoked event
// per other session (reason password_changed) and a credential-change event
// (password, update, initiated by the user), all with one txn; a reset is
// a session-revoked event per session (password_reset) and a
// credential-change event; a change that keeps the sessions is the
// credential-change event alone.
func TestPasswordChangesAreEvents(t *testing.T) {
	s, mp := withMail(t, nil)
	auth := receiver(t, s, "api-"+randomName())
	r := s.Do(t, "POST", "/ssf/stream", map[string]any{"events_requested": []string{ssf.EventTypeSessionRevoked, ssf.EventTypeCredentialChange}}, auth)
	if r.Status != http.StatusCreated {
		t.Fatalf("create stream: %d %s", r.Status, r.Body)
	}
	var cfg struct {
		Delivery struct {
			EndpointURL string `json:"endpoint_url"`
		} `json:"delivery"`
	}
	r.JSON(t, &cfg)
	path := strings.TrimPrefix(cfg.Delivery.EndpointURL, s.URL)
	poll := func() []set {
		t.Helper()
		var out []set
		var ack []string
		for {
			r := s.Do(t, "POST", path, map[string]any{"ack": ack, "returnImmediately": true}, auth)
			if r.Status != http.StatusOK {
				t.Fatalf("poll: %d %s", r.Status, r.Body)
			}
			var resp struct {
				Sets map[string]string `json:"sets"`
			}
			r.JSON(t, &resp)
			if len(resp.Sets) == 0 {
				return out
			}
			ack = ack[:0]
			for jti, tok := range resp.Sets {
				ack = append(ack, jti)
				b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
				if err != nil {
					t.Fatal(err)
				}
				var c set
				if err := json.Unmarshal(b, &c); err != nil {
					t.Fatal(err)
				}
				out = append(out, c)
			}
		}
	}
	// check finds, among sets, the session-revoked events of sessions with
	// reason and one credential-change event of user, all with one txn.
	check := func(what string, sets []set, user, reason, initiator string, sessions ...string) {
		t.Helper()
		txns := map[string]bool{}
		revoked := map[string]string{}
		credentials := 0
		for _, c := range sets {
			txns[c.Txn] = true
			if ev, ok := c.Events[ssf.EventTypeSessionRevoked]; ok {
				revoked[c.SubID.Session.ID] = ev["reason_admin"].(map[string]any)["en"].(string)
				if c.SubID.User.Sub != user {
					t.Errorf("%s: session-revoked of user %q, want %q", what, c.SubID.User.Sub, user)
				}
			}
			if ev, ok := c.Events[ssf.EventTypeCredentialChange]; ok {
				credentials++
				if c.SubID.Format != "iss_sub" || c.SubID.Sub != user || ev["credential_type"] != "password" ||
					ev["change_type"] != "update" || ev["initiating_entity"] != initiator {
					t.Errorf("%s: credential-change %+v %v", what, c.SubID, ev)
				}
			}
		}
		if credentials != 1 || len(revoked) != len(sessions) || len(txns) != 1 || txns[""] {
			t.Errorf("%s: %d credential-change events, session-revoked %v, txns %v; want 1, %d sessions, one txn", what, credentials, revoked,
				txns, len(sessions))
		}
		for _, sid := range sessions {
			if revoked[sid] != reason {
				t.Errorf("%s: session %s: reason %q, want %q", what, sid, revoked[sid], reason)
			}
		}
	}

	const email = "events@example.com"
	me, a, b := s.SignIn(t, email, pw1), s.SignIn(t, email, pw1), s.SignIn(t, email, pw1)
	user := subOf(t, me.AccessToken)
	poll() // nothing yet; empties the stream
	if r := s.Do(t, "POST", "/auth/password", map[string]any{"currentPassword": pw1, "newPassword": pw2}, bearer(me.AccessToken)); r.Status != http.StatusNoContent {
		t.Fatalf("change: %d %s", r.Status, r.Body)
	}
	check("change", poll(), user, "password_changed", "user", servertest.SessionID(t, a.AccessToken), servertest.SessionID(t, b.AccessToken))

	if r := s.Do(t, "POST", "/auth/password", map[string]any{"currentPassword": pw2, "newPassword": pw1, "signOutOthers": false},
		bearer(me.AccessToken)); r.Status != http.StatusNoContent {
		t.Fatalf("change keeping the sessions: %d %s", r.Status, r.Body)
	}
	check("change keeping the sessions", poll(), user, "password_changed", "user")

	s.Do(t, "POST", "/auth/recover", map[string]string{"email": email})
	tok, _ := linkToken(t, mp, 1)
	if r := s.Do(t, "POST", "/auth/reset", map[string]string{"token": tok, "newPassword": pw2}); r.Status != http.StatusNoContent {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	check("reset", poll(), user, "password_reset", "user", servertest.SessionID(t, me.AccessToken))

	if _, err := s.App.Service.AdminSetPassword(t.Context(), email, pw1); err != nil {
		t.Fatal(err)
	}
	check("set by an administrator", poll(), user, "password_set_by_admin", "admin")
}

func subOf(t *testing.T, tok string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Sub
}
