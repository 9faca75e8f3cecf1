package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/server/servertest"
)

// Refresh-token reuse and races through real HTTP (RFC 9700 §4.14.2,
// RFC 6819 §5.2.2.3): a token presented many times at once rotates its
// session exactly once, and a token presented after it was superseded (past
// the reuse interval) revokes the whole family.

// secRefresher sends one refresh in a dialect and returns the status and the
// new refresh token (empty unless 200).
type secRefresher struct {
	name string
	send func(c *http.Client, base, rt string) (int, string, error)
}

var secRefreshers = []secRefresher{
	{"canonical POST /token", func(c *http.Client, base, rt string) (int, string, error) {
		r, err := secDo(c, "POST", base+"/token", "application/json", `{"refreshToken":`+secJSONString(rt)+`}`)
		if err != nil {
			return 0, "", err
		}
		var out struct{ RefreshToken string }
		_ = json.Unmarshal(r.Body, &out)
		return r.Status, out.RefreshToken, nil
	}},
	{"oauth2 POST /oauth/token", func(c *http.Client, base, rt string) (int, string, error) {
		r, err := secDo(c, "POST", base+"/oauth/token", "application/x-www-form-urlencoded",
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode())
		if err != nil {
			return 0, "", err
		}
		var out struct {
			RefreshToken string `json:"refresh_token"`
		}
		_ = json.Unmarshal(r.Body, &out)
		return r.Status, out.RefreshToken, nil
	}},
}

func TestConcurrentRefreshesRotateOnce(t *testing.T) {
	const n = 100
	for _, rf := range secRefreshers {
		t.Run(rf.name, func(t *testing.T) {
			s := servertest.Start(t, nil)
			v := secSignIn(t, s, "ann@example.com")
			s.Clock.Advance(time.Second)
			type answer struct {
				status int
				rt     string
				err    error
			}
			answers := make([]answer, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					st, rt, err := rf.send(s.Client(), s.URL, v.Refresh)
					answers[i] = answer{st, rt, err}
				}()
			}
			close(start)
			wg.Wait()
			sess := secSession(t, s, v.SID)
			if sess.Generation != 2 || sess.Revoked() {
				t.Fatalf("after %d concurrent refreshes of generation 1: generation %d, revoked %v (%s); want exactly one rotation",
					n, sess.Generation, sess.Revoked(), sess.RevokeReason)
			}
			ok, refused := 0, 0
			var gen2 []string
			for i, a := range answers {
				switch {
				case a.err != nil:
					t.Fatalf("request %d: %v", i, a.err)
				case a.status == http.StatusOK:
					ok++
					if g := secGen(t, a.rt); g != 2 {
						t.Fatalf("request %d got a refresh token of generation %d; the session is at 2", i, g)
					}
					gen2 = append(gen2, a.rt)
				case a.status == http.StatusBadRequest:
					refused++
				default:
					t.Fatalf("request %d: status %d", i, a.status)
				}
			}
			t.Logf("%d answers: %d carried the current generation, %d were refused", n, ok, refused)
			if ok == 0 {
				t.Fatal("no refresh succeeded")
			}
			// One chain: the first generation-2 token rotates to 3; any other
			// generation-2 token, inside the reuse interval, yields that same
			// generation 3 (never a 4, never a second chain).
			st, rt3, err := rf.send(s.Client(), s.URL, gen2[0])
			if err != nil || st != 200 || secGen(t, rt3) != 3 {
				t.Fatalf("refresh of a generation-2 token: %d %v", st, err)
			}
			if len(gen2) > 1 {
				st, again, err := rf.send(s.Client(), s.URL, gen2[len(gen2)-1])
				if err != nil || st != 200 || secGen(t, again) != 3 {
					t.Fatalf("a second generation-2 token inside the reuse interval: %d %v", st, err)
				}
			}
			if g := secSession(t, s, v.SID).Generation; g != 3 {
				t.Fatalf("generation %d, want 3", g)
			}
			// The original token is two generations behind: reuse, the family dies.
			if st, _, _ := rf.send(s.Client(), s.URL, v.Refresh); st != http.StatusBadRequest {
				t.Fatalf("generation-1 token after two rotations: %d, want 400", st)
			}
			if sess := secSession(t, s, v.SID); !sess.Revoked() || sess.RevokeReason != "refresh_token_reused" {
				t.Fatalf("reuse of a generation-1 token did not revoke the family: %+v", sess)
			}
			if st, _, _ := rf.send(s.Client(), s.URL, rt3); st != http.StatusBadRequest {
				t.Fatalf("the current token after reuse detection: %d, want 400", st)
			}
		})
	}
}

// TestStolenRefreshTokenLocksBothOut is RFC 9700 §4.14.2's scenario: an
// attacker who copied the victim's refresh token uses it first; when the
// victim refreshes with the same token after the reuse interval, the whole
// family is revoked and both are locked out, and the attacker's access token
// introspects as inactive at once.
func TestStolenRefreshTokenLocksBothOut(t *testing.T) {
	for _, rf := range secRefreshers {
		t.Run(rf.name, func(t *testing.T) {
			s := servertest.Start(t, nil)
			victim := secSignIn(t, s, "ann@example.com")
			stolen := victim.Refresh
			st, attackerRT, err := rf.send(s.Client(), s.URL, stolen)
			if err != nil || st != 200 {
				t.Fatalf("attacker's refresh: %d %v", st, err)
			}
			r := secMustDo(t, s, "POST", "/token", "application/json", `{"refreshToken":"`+attackerRT+`"}`)
			var at struct{ AccessToken, RefreshToken string }
			_ = json.Unmarshal(r.Body, &at)
			if r.Status != 200 {
				t.Fatalf("attacker's second refresh: %d %s", r.Status, r.Body)
			}
			attackerRT = at.RefreshToken
			s.Clock.Advance(s.App.Config.RefreshTokenReuseInterval.D() + time.Second)
			r = secMustDo(t, s, "POST", "/token", "application/json", `{"refreshToken":"`+victim.Refresh+`"}`)
			if r.Status != 400 || !json.Valid(r.Body) || !strings.Contains(string(r.Body), "refresh_token_reused") {
				t.Fatalf("victim's refresh with the superseded token: %d %s", r.Status, r.Body)
			}
			sess := secSession(t, s, victim.SID)
			if !sess.Revoked() || sess.RevokeReason != "refresh_token_reused" {
				t.Fatalf("family not revoked: %+v", sess)
			}
			for name, tok := range map[string]string{"attacker": attackerRT, "victim": victim.Refresh} {
				if st, _, _ := rf.send(s.Client(), s.URL, tok); st != http.StatusBadRequest {
					t.Errorf("%s's refresh after reuse detection: %d, want 400", name, st)
				}
			}
			r = secMustDo(t, s, "POST", "/oauth/introspect", "application/x-www-form-urlencoded", "token="+at.AccessToken)
			if string(r.Body) != `{"active":false}`+"\n" && string(r.Body) != `{"active":false}` {
				t.Fatalf("attacker's access token after revocation: %s", r.Body)
			}
			if !strings.Contains(s.Logs.String(), `"event":"refresh.reuse_detected"`) {
				t.Fatalf("no audit event for the reuse:\n%s", s.Logs.String())
			}
		})
	}
}

// TestRevokedSessionCannotManageSessions: after reuse detection revoked the
// family, the thief still holds an unexpired access token of it. It must not
// let the thief list the user's sessions (their IPs and user agents) or end
// the session the victim starts by signing in again (regression: until this
// test, GET /auth/sessions, DELETE /auth/sessions/{id} and sign-out of
// "others"/"global" accepted any unexpired access token, even of a revoked
// session; OWASP ASVS V3.3.1, RFC 9700 §4.14.2).
func TestRevokedSessionCannotManageSessions(t *testing.T) {
	s := servertest.Start(t, nil)
	victim := secSignIn(t, s, "ann@example.com")
	r := secMustDo(t, s, "POST", "/token", "application/json", `{"refreshToken":"`+victim.Refresh+`"}`)
	var thief struct{ AccessToken, RefreshToken string }
	_ = json.Unmarshal(r.Body, &thief)
	s.Clock.Advance(s.App.Config.RefreshTokenReuseInterval.D() + time.Second)
	if r := secMustDo(t, s, "POST", "/token", "application/json", `{"refreshToken":"`+victim.Refresh+`"}`); r.Status != 400 {
		t.Fatalf("reuse: %d %s", r.Status, r.Body)
	}
	fresh := secSignIn(t, s, "ann@example.com")
	bearer := "Authorization: Bearer " + thief.AccessToken
	for _, q := range []struct{ method, path, body string }{
		{"GET", "/auth/sessions", ""},
		{"DELETE", "/auth/sessions/" + fresh.SID, ""},
		{"POST", "/auth/sign-out", `{"scope":"global"}`},
		{"POST", "/auth/sign-out", `{"scope":"others"}`},
		{"POST", "/token/refresh", ""},
	} {
		ctype := ""
		if q.body != "" {
			ctype = "application/json"
		}
		r := secMustDo(t, s, q.method, q.path, ctype, q.body, bearer)
		if r.Status != http.StatusUnauthorized {
			t.Errorf("%s %s %s with the revoked session's access token: %d %s", q.method, q.path, q.body, r.Status, r.Body)
		}
	}
	if sess := secSession(t, s, fresh.SID); sess.Revoked() {
		t.Fatalf("the victim's new session was revoked with a stale access token: %s", sess.RevokeReason)
	}
	if r := secMustDo(t, s, "POST", "/token", "application/json", `{"refreshToken":"`+fresh.Refresh+`"}`); r.Status != 200 {
		t.Fatalf("the victim's new session: %d %s", r.Status, r.Body)
	}
}
