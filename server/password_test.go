package server_test

import (
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/internal/mailtest"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

const (
	pw1 = "first password 1"
	pw2 = "second password 2"
)

// withMail starts a real SMTP server and a Latchkey server on a real SQLite
// file sending to it (its sender running on the test's clock).
func withMail(t *testing.T, mod func(*config.Config)) (*servertest.Server, *mailtest.Server) {
	t.Helper()
	mp := mailtest.Start(t, mailtest.Options{})
	s := servertest.Start(t, func(c *config.Config) {
		c.SMTPURL, c.MailFrom = "smtp://"+mp.SMTPAddr, "Latchkey <no-reply@example.com>"
		c.PasswordResetURL, c.EmailVerificationURL = "https://app.example.com/reset#token=", "https://app.example.com/verify#token="
		if mod != nil {
			mod(c)
		}
	})
	s.App.StartMail()
	return s, mp
}

// linkToken waits for the n-th message to arrive and returns the token of
// its link (after "#token=") and the message.
func linkToken(t *testing.T, mp *mailtest.Server, n int) (string, mailtest.Detail) {
	t.Helper()
	ms := mp.WaitMessages(t, n, 15*time.Second)
	d := mp.Message(t, ms[0].ID) // newest first
	m := regexp.MustCompile(`#token=([A-Za-z0-9_-]+)`).FindStringSubmatch(d.Text)
	if m == nil {
		t.Fatalf("no link in the message:\n%s", d.Text)
	}
	if !strings.Contains(d.HTML, "#token="+m[1]) {
		t.Fatalf("the HTML part does not carry the same link:\n%s", d.HTML)
	}
	return m[1], d
}

func bearer(tok string) string { return "Authorization: Bearer " + tok }

// wantError fails unless r has status and canonical error code.
func wantError(t *testing.T, what string, r *servertest.Response, status int, code string) {
	t.Helper()
	if r.Status != status || r.Map(t)["error"] != code {
		t.Fatalf("%s: %d %s, want %d %s", what, r.Status, r.Body, status, code)
	}
}

func refreshStatus(t *testing.T, s *servertest.Server, rt string) (int, string) {
	t.Helper()
	r := s.Do(t, "POST", "/token", map[string]string{"refreshToken": rt})
	if r.Status == http.StatusOK {
		return 200, ""
	}
	return r.Status, r.Map(t)["error"].(string)
}

func signInStatus(t *testing.T, s *servertest.Server, email, pw string) (int, string) {
	t.Helper()
	r := s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": email, "password": pw})
	if r.Status == http.StatusOK {
		return 200, ""
	}
	return r.Status, r.Map(t)["error"].(string)
}

// TestChangePassword: a wrong current password is refused and changes
// nothing; the right one sets the new password and ends every other
// session of the user in the same transaction (their refresh tokens are
// refused with session_revoked) while the caller's keeps working; with
// signOutOthers false the other sessions stay; a signed-out session cannot
// change the password.
func TestChangePassword(t *testing.T) {
	s := servertest.Start(t, nil)
	const email = "change@example.com"
	me, other, third := s.SignIn(t, email, pw1), s.SignIn(t, email, pw1), s.SignIn(t, email, pw1)
	stranger := s.SignIn(t, "stranger@example.com", pw1)

	r := s.Do(t, "POST", "/auth/password", map[string]any{"currentPassword": "wrong password", "newPassword": pw2}, bearer(me.AccessToken))
	wantError(t, "wrong current password", r, http.StatusBadRequest, "invalid_current_password")
	if st, _ := refreshStatus(t, s, other.RefreshToken); st != 200 {
		t.Fatalf("a refused change ended another session: %d", st)
	}
	if st, _ := signInStatus(t, s, email, pw1); st != 200 {
		t.Fatalf("a refused change changed the password: %d", st)
	}
	wantError(t, "short new password", s.Do(t, "POST", "/auth/password", map[string]any{"currentPassword": pw1, "newPassword": "short"},
		bearer(me.AccessToken)), http.StatusBadRequest, "invalid_request")
	wantError(t, "no token", s.Do(t, "POST", "/auth/password", map[string]any{"currentPassword": pw1, "newPassword": pw2}),
		http.StatusUnauthorized, "invalid_token")

	r = s.Do(t, "POST", "/auth/password", map[string]any{"currentPassword": pw1, "newPassword": pw2}, bearer(me.AccessToken))
	if r.Status != http.StatusNoContent {
		t.Fatalf("change: %d %s", r.Status, r.Body)
	}
	if st, code := refreshStatus(t, s, third.RefreshToken); st != http.StatusBadRequest || code != "session_revoked" {
		t.Errorf("another session's refresh after the change: %d %s, want 400 session_revoked", st, code)
	}
	if st, _ := refreshStatus(t, s, me.RefreshToken); st != 200 {
		t.Errorf("the caller's refresh after the change: %d", st)
	}
	if st, _ := refreshStatus(t, s, stranger.RefreshToken); st != 200 {
		t.Errorf("another user's session was ended: %d", st)
	}
	if st, code := signInStatus(t, s, email, pw1); st != http.StatusUnauthorized || code != "invalid_credentials" {
		t.Errorf("old password: %d %s", st, code)
	}
	kept := s.SignIn(t, email, pw2)
	r = s.Do(t, "POST", "/auth/password", map[string]any{"currentPassword": pw2, "newPassword": pw1, "signOutOthers": false},
		bearer(kept.AccessToken))
	if r.Status != http.StatusNoContent {
		t.Fatalf("change keeping sessions: %d %s", r.Status, r.Body)
	}
	if st, _ := signInStatus(t, s, email, pw1); st != 200 {
		t.Errorf("sign-in with the password set by the second change: %d", st)
	}

	s.Do(t, "POST", "/auth/sign-out", nil, bearer(kept.AccessToken))
	wantError(t, "a signed-out session's access token", s.Do(t, "POST", "/auth/password",
		map[string]any{"currentPassword": pw1, "newPassword": pw2}, bearer(kept.AccessToken)), http.StatusUnauthorized, "session_revoked")
}

// TestChangePasswordRateLimited: wrong current passwords count against the
// account's sign-in failure limit, so a stolen access token is no way to
// guess the password faster than the sign-in form allows: past the limit
// even the right password is refused with 429 and Retry-After, and so is a
// sign-in of that account.
func TestChangePasswordRateLimited(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) {
		c.RateLimits = true
		c.RateLimitSigninFailuresAccount = config.Rate{Count: 3, Per: 15 * time.Minute}
	})
	const email = "limited@example.com"
	tk := s.SignIn(t, email, pw1)
	for i := range 3 {
		r := s.Do(t, "POST", "/auth/password", map[string]any{"currentPassword": "guess " + string(rune('a'+i)), "newPassword": pw2},
			bearer(tk.AccessToken))
		wantError(t, "guess", r, http.StatusBadRequest, "invalid_current_password")
	}
	r := s.Do(t, "POST", "/auth/password", map[string]any{"currentPassword": pw1, "newPassword": pw2}, bearer(tk.AccessToken))
	wantError(t, "change past the limit", r, http.StatusTooManyRequests, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if st, code := signInStatus(t, s, email, pw1); st != http.StatusTooManyRequests {
		t.Errorf("sign-in past the shared limit: %d %s", st, code)
	}
	s.Clock.Advance(15 * time.Minute)
	if r := s.Do(t, "POST", "/auth/password", map[string]any{"currentPassword": pw1, "newPassword": pw2}, bearer(tk.AccessToken)); r.Status != http.StatusNoContent {
		t.Errorf("change after the window: %d %s", r.Status, r.Body)
	}
}

// TestPasswordReset: the reset mail arrives through a real SMTP server; its
// link's token sets a new password once and revokes every session of the
// user; a second use is refused.
func TestPasswordReset(t *testing.T) {
	s, mp := withMail(t, nil)
	const email = "reset@example.com"
	a, b := s.SignIn(t, email, pw1), s.SignIn(t, email, pw1)
	other := s.SignIn(t, "bystander@example.com", pw1)
	if r := s.Do(t, "POST", "/auth/recover", map[string]string{"email": " Reset@Example.com "}); r.Status != http.StatusAccepted {
		t.Fatalf("recover: %d %s", r.Status, r.Body)
	}
	tok, d := linkToken(t, mp, 1)
	if d.Subject != "Reset your password" || len(d.To) != 1 || d.To[0].Address != email || d.From.Address != "no-reply@example.com" {
		t.Errorf("mail %+v", d)
	}
	if len(tok) != 43 {
		t.Errorf("token of %d characters, want 43 (32 bytes, base64url)", len(tok))
	}
	if strings.Contains(s.Logs.String(), tok) {
		t.Error("the token is in the server's log")
	}
	if r := s.Do(t, "POST", "/auth/reset", map[string]string{"token": tok, "newPassword": pw2}); r.Status != http.StatusNoContent {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	for _, rt := range []string{a.RefreshToken, b.RefreshToken} {
		if st, code := refreshStatus(t, s, rt); st != http.StatusBadRequest || code != "session_revoked" {
			t.Errorf("refresh after the reset: %d %s, want 400 session_revoked", st, code)
		}
	}
	if st, _ := refreshStatus(t, s, other.RefreshToken); st != 200 {
		t.Errorf("another user's session after the reset: %d", st)
	}
	if st, _ := signInStatus(t, s, email, pw2); st != 200 {
		t.Errorf("sign-in with the new password: %d", st)
	}
	wantError(t, "second use", s.Do(t, "POST", "/auth/reset", map[string]string{"token": tok, "newPassword": pw1}),
		http.StatusBadRequest, "email_token_invalid")
	if st, _ := signInStatus(t, s, email, pw2); st != 200 {
		t.Errorf("a refused second use changed the password: %d", st)
	}
}

// TestResetTokenRefused: a token that expired, one superseded by a newer
// request, and one from before a password change are refused, and change
// nothing; so are tokens that are not ours at all.
func TestResetTokenRefused(t *testing.T) {
	s, mp := withMail(t, nil)
	const email = "refused@example.com"
	s.SignIn(t, email, pw1)
	recover := func() {
		t.Helper()
		if r := s.Do(t, "POST", "/auth/recover", map[string]string{"email": email}); r.Status != http.StatusAccepted {
			t.Fatalf("recover: %d %s", r.Status, r.Body)
		}
	}
	reset := func(tok string) *servertest.Response {
		return s.Do(t, "POST", "/auth/reset", map[string]string{"token": tok, "newPassword": pw2})
	}

	recover()
	expired, _ := linkToken(t, mp, 1)
	s.Clock.Advance(time.Hour)
	wantError(t, "expired token", reset(expired), http.StatusBadRequest, "email_token_expired")

	recover()
	older, _ := linkToken(t, mp, 2)
	recover()
	newer, _ := linkToken(t, mp, 3)
	wantError(t, "superseded token", reset(older), http.StatusBadRequest, "email_token_invalid")

	tk := s.SignIn(t, email, pw1)
	r := s.Do(t, "POST", "/auth/password", map[string]any{"currentPassword": pw1, "newPassword": "changed password 3"}, bearer(tk.AccessToken))
	if r.Status != http.StatusNoContent {
		t.Fatalf("change: %d %s", r.Status, r.Body)
	}
	wantError(t, "token from before a password change", reset(newer), http.StatusBadRequest, "email_token_invalid")

	for _, bad := range []string{"x", strings.Repeat("A", 43), strings.Repeat("A", 42) + "=", strings.Repeat("A", 44),
		strings.Repeat("A", 10000), "../../etc/passwd", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\u00e9"} {
		wantError(t, "forged token", reset(bad), http.StatusBadRequest, "email_token_invalid")
	}
	if st, _ := signInStatus(t, s, email, "changed password 3"); st != 200 {
		t.Errorf("a refused token changed the password: %d", st)
	}
}

// TestRecoverNoEnumeration: an unknown address and an inactive user's get
// the same 202 as a user's, and no mail; over repeated requests the known
// address's answers take no longer than twice the unknown's, and the other
// way round (the two distributions compared with each other, never with a
// fixed time).
func TestRecoverNoEnumeration(t *testing.T) {
	s, mp := withMail(t, nil)
	s.SignIn(t, "known@example.com", pw1)
	s.SignIn(t, "inactive@example.com", pw1)
	if _, err := s.App.Service.SetUserActive(t.Context(), "inactive@example.com", false); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"nobody@example.com", "inactive@example.com"} {
		r := s.Do(t, "POST", "/auth/recover", map[string]string{"email": email})
		if r.Status != http.StatusAccepted || len(r.Body) != 0 {
			t.Fatalf("recover %s: %d %q", email, r.Status, r.Body)
		}
	}
	if r := s.Do(t, "POST", "/auth/recover", map[string]string{"email": "known@example.com"}); r.Status != http.StatusAccepted {
		t.Fatalf("recover known: %d", r.Status)
	}
	ms := mp.WaitMessages(t, 1, 15*time.Second)
	time.Sleep(200 * time.Millisecond) // a real SMTP server: give a wrongly queued mail a moment to show
	if ms = mp.Messages(t); len(ms) != 1 || ms[0].To[0].Address != "known@example.com" {
		t.Fatalf("messages %+v, want one to known@example.com", ms)
	}

	const rounds = 40
	var known, unknown []time.Duration
	for i := range rounds {
		for _, email := range []string{"known@example.com", "nobody-" + string(rune('a'+i%26)) + "@example.com"} {
			start := time.Now()
			r := s.Do(t, "POST", "/auth/recover", map[string]string{"email": email})
			d := time.Since(start)
			if r.Status != http.StatusAccepted {
				t.Fatalf("recover: %d", r.Status)
			}
			if strings.HasPrefix(email, "known") {
				known = append(known, d)
			} else {
				unknown = append(unknown, d)
			}
		}
	}
	mk, mu := median(known), median(unknown)
	t.Logf("median answer: known %s, unknown %s over %d rounds", mk, mu, rounds)
	if mk > 2*mu || mu > 2*mk {
		t.Errorf("known and unknown addresses differ more than twofold: medians %s and %s", mk, mu)
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

// TestResetRace: 100 concurrent resets through HTTP with one token: exactly
// one succeeds, the others are refused with email_token_invalid. (The
// hasher gets room for all 100, so none is refused as busy before reaching
// the store's compare-and-set.)
func TestResetRace(t *testing.T) {
	s, mp := withMail(t, func(c *config.Config) { c.PasswordHashConcurrency = 32 })
	s.SignIn(t, "race@example.com", pw1)
	s.Do(t, "POST", "/auth/recover", map[string]string{"email": "race@example.com"})
	tok, _ := linkToken(t, mp, 1)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		status = map[int]int{}
		codes  = map[string]int{}
	)
	start := make(chan struct{})
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := s.Do(t, "POST", "/auth/reset", map[string]string{"token": tok, "newPassword": "racer password " + string(rune('a'+i%26))})
			mu.Lock()
			defer mu.Unlock()
			status[r.Status]++
			if r.Status != http.StatusNoContent {
				codes[r.Map(t)["error"].(string)]++
			}
		}()
	}
	close(start)
	wg.Wait()
	if status[http.StatusNoContent] != 1 || status[http.StatusBadRequest] != 99 || codes["email_token_invalid"] != 99 {
		t.Fatalf("statuses %v, codes %v; want one 204 and 99 400 email_token_invalid", status, codes)
	}
}

// TestRecoverHostileInput: an address that would add a header or a
// recipient, or is oversized, is refused with 400 and sends nothing;
// oversized passwords and bodies are refused too.
func TestRecoverHostileInput(t *testing.T) {
	s, mp := withMail(t, nil)
	s.SignIn(t, "victim@example.com", pw1)
	for _, email := range []string{"victim@example.com\r\nBcc: attacker@example.com", "victim@example.com\nBcc: attacker@example.com",
		"victim@example.com, attacker@example.com", "Victim <victim@example.com>", strings.Repeat("a", 300) + "@example.com",
		"victim@example.com\x00attacker@example.com"} {
		wantError(t, "recover "+email, s.Do(t, "POST", "/auth/recover", map[string]string{"email": email}), http.StatusBadRequest, "invalid_request")
	}
	wantError(t, "reset with an oversized password", s.Do(t, "POST", "/auth/reset",
		map[string]string{"token": strings.Repeat("A", 43), "newPassword": strings.Repeat("p", 2000)}), http.StatusBadRequest, "invalid_request")
	if r := s.Do(t, "POST", "/auth/recover", `{"email":"`+strings.Repeat("a", 70<<10)+`"}`, "Content-Type: application/json"); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", r.Status)
	}
	wantError(t, "unknown field", s.Do(t, "POST", "/auth/recover", map[string]string{"email": "victim@example.com", "bcc": "x@example.com"}),
		http.StatusBadRequest, "invalid_request")
	time.Sleep(200 * time.Millisecond) // a real SMTP server: give a wrongly queued mail a moment to show
	if ms := mp.Messages(t); len(ms) != 0 {
		t.Fatalf("%d messages sent for refused requests", len(ms))
	}
}

// TestRecoverRateLimited: password-reset requests are limited per address
// (known or not, alike) and per IP; so are verification resends.
func TestRecoverRateLimited(t *testing.T) {
	s, _ := withMail(t, func(c *config.Config) {
		c.RateLimits = true
		c.RateLimitPasswordResetAccount = config.Rate{Count: 2, Per: time.Hour}
		c.RateLimitPasswordResetIP = config.Rate{Count: 5, Per: time.Hour}
		c.RateLimitVerificationResendAccount = config.Rate{Count: 1, Per: time.Hour}
	})
	s.SignIn(t, "known@example.com", pw1)
	for _, email := range []string{"known@example.com", "nobody@example.com"} {
		for range 2 {
			if r := s.Do(t, "POST", "/auth/recover", map[string]string{"email": email}); r.Status != http.StatusAccepted {
				t.Fatalf("recover %s: %d", email, r.Status)
			}
		}
		r := s.Do(t, "POST", "/auth/recover", map[string]string{"email": email})
		wantError(t, "third request for "+email, r, http.StatusTooManyRequests, "rate_limited")
		if r.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	s.Do(t, "POST", "/auth/recover", map[string]string{"email": "fifth@example.com"})
	wantError(t, "sixth request from one IP", s.Do(t, "POST", "/auth/recover", map[string]string{"email": "sixth@example.com"}),
		http.StatusTooManyRequests, "rate_limited")
	if r := s.Do(t, "POST", "/auth/verify/resend", map[string]string{"email": "known@example.com"}); r.Status != http.StatusAccepted {
		t.Fatalf("resend: %d", r.Status)
	}
	wantError(t, "second resend", s.Do(t, "POST", "/auth/verify/resend", map[string]string{"email": "known@example.com"}),
		http.StatusTooManyRequests, "rate_limited")
}

// TestResetTokenIsItsUsers: a reset token changes the password of the user
// it was mailed to and nobody else's: with two users' links out, one link
// sets its user's password, ends that user's sessions only, and leaves the
// other user's password, sessions and link alone.
func TestResetTokenIsItsUsers(t *testing.T) {
	s, mp := withMail(t, nil)
	ann, bob := s.SignIn(t, "ann@example.com", pw1), s.SignIn(t, "bob@example.com", pw1)
	s.Do(t, "POST", "/auth/recover", map[string]string{"email": "ann@example.com"})
	annTok, annMail := linkToken(t, mp, 1)
	s.Do(t, "POST", "/auth/recover", map[string]string{"email": "bob@example.com"})
	bobTok, bobMail := linkToken(t, mp, 2)
	if annMail.To[0].Address != "ann@example.com" || bobMail.To[0].Address != "bob@example.com" || annTok == bobTok {
		t.Fatalf("links: %s to %s, %s to %s", annTok, annMail.To[0].Address, bobTok, bobMail.To[0].Address)
	}
	if r := s.Do(t, "POST", "/auth/reset", map[string]string{"token": annTok, "newPassword": pw2}); r.Status != http.StatusNoContent {
		t.Fatalf("reset with ann's link: %d %s", r.Status, r.Body)
	}
	if st, _ := signInStatus(t, s, "bob@example.com", pw1); st != 200 {
		t.Errorf("bob's password after ann's reset: %d", st)
	}
	if st, _ := refreshStatus(t, s, bob.RefreshToken); st != 200 {
		t.Errorf("bob's session after ann's reset: %d", st)
	}
	if st, code := refreshStatus(t, s, ann.RefreshToken); code != "session_revoked" {
		t.Errorf("ann's session after her reset: %d %s", st, code)
	}
	if r := s.Do(t, "POST", "/auth/reset", map[string]string{"token": bobTok, "newPassword": "bob's own password"}); r.Status != http.StatusNoContent {
		t.Fatalf("bob's link after ann's reset: %d %s", r.Status, r.Body)
	}
	if st, _ := signInStatus(t, s, "ann@example.com", pw2); st != 200 {
		t.Errorf("ann's password after bob's reset: %d", st)
	}
}
