package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/server/servertest"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// slowParams are argon2id parameters other than the server's (so a sign-in
// re-hashes the password with the server's) and slow enough that a reset
// completes while a sign-in is still checking a password hashed with them.
var slowParams = password.Params{Memory: 64 * 1024, Time: 16, Threads: 1, KeyLen: 32, SaltLen: 16}

// storeSlowHash stores for the user of email a hash of pw made with
// slowParams, so the server's next check of pw is slow and re-hashes it.
func storeSlowHash(t *testing.T, s *servertest.Server, email, pw string) {
	t.Helper()
	u, err := s.App.Store.UserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash, err = password.New(slowParams, 1, 1).Hash(t.Context(), pw); err != nil {
		t.Fatal(err)
	}
	if err := s.App.Store.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
}

// TestSignInRacingReset: someone who knows the old password signs in while
// the user resets it. Whatever the interleaving, once the reset has been
// answered 204 the old password is no longer the password, and no session
// started with it is alive: the sign-in that checked the old password
// before the reset committed must not store a session after it (it would
// outlive the reset that was meant to end every session), and the re-hash
// of the old password (the stored hash has other parameters than the
// server's) must not be written over the new one.
//
// The round is arranged through real HTTP only: the reset's token comes by
// a real SMTP server; the sign-in is under way (its password check holds a
// hashing slot, seen in /metrics) when the reset is sent, and the test
// checks the sign-in is still under way when the reset has been answered.
// A round where it is not (the machine stalled the reset longer than the
// check) proves nothing and is run again.
func TestSignInRacingReset(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			s, mp := withMail(t, func(c *config.Config) {
				c.PasswordHashConcurrency = 4
				if backend == "postgres" {
					c.DatabaseURL = pgtest.FreshSchema(t)
				}
			})
			for round := 1; ; round++ {
				if round > 5 {
					t.Skip("the machine is too loaded to order a reset inside a password check (5 rounds)")
				}
				email := fmt.Sprintf("race%d@example.com", round)
				s.SignUp(t, email, pw1)
				// The stored hash of pw1 has other parameters: sign-in re-hashes it.
				storeSlowHash(t, s, email, pw1)
				if r := s.Do(t, "POST", "/auth/recover", map[string]string{"email": email}); r.Status != http.StatusAccepted {
					t.Fatalf("recover: %d %s", r.Status, r.Body)
				}
				tok, _ := linkToken(t, mp, round)

				type result struct {
					status  int
					refresh string
					err     error
				}
				done := make(chan result, 1)
				go func() {
					st, body, err := post(s.URL+"/auth/sign-in", map[string]string{"email": email, "password": pw1})
					var tk servertest.Tokens
					_ = json.Unmarshal(body, &tk)
					done <- result{st, tk.RefreshToken, err}
				}()
				// Wait for the sign-in's password check to hold a slot.
				checking := false
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
					if scrape(t, s)["latchkey_password_hash_slots_in_use"] >= 1 {
						checking = true
						break
					}
					time.Sleep(time.Millisecond)
				}
				if !checking {
					<-done
					t.Logf("round %d: the sign-in's check was not seen; again", round)
					continue
				}
				if r := s.Do(t, "POST", "/auth/reset", map[string]string{"token": tok, "newPassword": pw2}); r.Status != http.StatusNoContent {
					t.Fatalf("reset: %d %s", r.Status, r.Body)
				}
				var res result
				select {
				case res = <-done:
					t.Logf("round %d: the sign-in ended before the reset was answered; again", round)
					continue
				default:
				}
				res = <-done
				if res.err != nil {
					t.Fatal(res.err)
				}
				t.Logf("round %d: the sign-in that checked the old password before the reset was answered %d", round, res.status)
				if res.status == http.StatusOK {
					if st, code := refreshStatus(t, s, res.refresh); st == http.StatusOK {
						t.Errorf("a session started with the old password outlived the reset: its refresh succeeded after it")
					} else {
						t.Logf("its refresh after the reset: %d %s", st, code)
					}
				}
				if st, _ := signInStatus(t, s, email, pw2); st != http.StatusOK {
					t.Errorf("the new password set by the reset does not sign in: %d (the sign-in's re-hash of the old password overwrote it)", st)
				}
				if st, _ := signInStatus(t, s, email, pw1); st == http.StatusOK {
					t.Errorf("the old password still signs in after the reset")
				}
				return
			}
		})
	}
}

// post sends a JSON body from any goroutine (no testing.T).
func post(url string, body any) (int, []byte, error) {
	raw, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(raw))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestSignInRehashes: a stored hash with other parameters than the
// server's is replaced, on the next successful sign-in, by a hash of the
// same password with the server's (stored with the sign-in's session).
func TestSignInRehashes(t *testing.T) {
	s := servertest.Start(t, nil)
	const email = "rehash@example.com"
	s.SignUp(t, email, pw1)
	u, err := s.App.Store.UserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash, err = password.New(password.Params{Memory: 128, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}, 1, 1).Hash(t.Context(), pw1); err != nil {
		t.Fatal(err)
	}
	if err := s.App.Store.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if st, code := signInStatus(t, s, email, pw1); st != http.StatusOK {
		t.Fatalf("sign-in: %d %s", st, code)
	}
	after, err := s.App.Store.UserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	if after.PasswordHash == u.PasswordHash || !strings.Contains(after.PasswordHash, "$m=64,t=1,p=1$") {
		t.Errorf("stored hash after the sign-in %q, want one with the server's parameters (m=64,t=1)", after.PasswordHash)
	}
	if st, code := signInStatus(t, s, email, pw1); st != http.StatusOK {
		t.Fatalf("sign-in with the re-hashed password: %d %s", st, code)
	}
}

// TestConcurrentSignInsRehash: two sign-ins with the right password of a
// user whose hash has other parameters than the server's, under way at
// once (both checking the old hash): the first stores its re-hash with its
// session; the second finds another hash than the one it checked, and must
// still succeed, the password being the same.
func TestConcurrentSignInsRehash(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			cfg := servertest.Config(t)
			cfg.PasswordHashConcurrency = 4
			if backend == "postgres" {
				cfg.DatabaseURL = pgtest.FreshSchema(t)
			}
			s := servertest.StartConfig(t, cfg)
			const email = "twotabs@example.com"
			s.SignUp(t, email, pw1)
			storeSlowHash(t, s, email, pw1)
			type result struct {
				status int
				body   []byte
				err    error
			}
			done := make(chan result, 2)
			for range 2 {
				go func() {
					st, body, err := post(s.URL+"/auth/sign-in", map[string]string{"email": email, "password": pw1})
					done <- result{st, body, err}
				}()
			}
			both := false
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !both; {
				both = scrape(t, s)["latchkey_password_hash_slots_in_use"] >= 2
				if !both {
					time.Sleep(time.Millisecond)
				}
			}
			for range 2 {
				r := <-done
				if r.err != nil {
					t.Fatal(r.err)
				}
				if r.status != http.StatusOK {
					t.Errorf("a sign-in with the right password: %d %s", r.status, r.body)
				}
			}
			if !both {
				t.Log("the two checks were not seen under way at once; the test proved less")
			}
		})
	}
}

// TestChangePasswordRacingRehash: the user changes the password (the right
// current one) while another of its sign-ins stores its re-hash of that
// same password (the stored hash had other parameters than the server's):
// the change is a compare-and-set on the hash it checked, which the re-hash
// replaced, but the password it checked is still the user's, so the change
// must succeed, not answer invalid_current_password (and count a failure).
// A round where the change committed first (then the sign-in is refused, the
// password having changed) proves nothing and is run again.
func TestChangePasswordRacingRehash(t *testing.T) {
	cfg := servertest.Config(t)
	cfg.PasswordHashConcurrency = 4
	s := servertest.StartConfig(t, cfg)
	for round := 1; ; round++ {
		if round > 5 {
			t.Skip("the machine is too loaded to order a re-hash inside a password change (5 rounds)")
		}
		email := fmt.Sprintf("change-rehash%d@example.com", round)
		me := s.SignIn(t, email, pw1)
		storeSlowHash(t, s, email, pw1)
		signedIn := make(chan int, 1)
		go func() {
			st, _, _ := post(s.URL+"/auth/sign-in", map[string]string{"email": email, "password": pw1})
			signedIn <- st
		}()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			if scrape(t, s)["latchkey_password_hash_slots_in_use"] >= 1 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		r := s.Do(t, "POST", "/auth/password", map[string]any{"currentPassword": pw1, "newPassword": pw2}, bearer(me.AccessToken))
		if st := <-signedIn; st != http.StatusOK {
			t.Logf("round %d: the change committed first (the sign-in was answered %d); again", round, st)
			continue
		}
		if r.Status != http.StatusNoContent {
			t.Fatalf("a change with the right current password, racing a sign-in's re-hash of it: %d %s", r.Status, r.Body)
		}
		if st, _ := signInStatus(t, s, email, pw2); st != http.StatusOK {
			t.Errorf("the new password does not sign in: %d", st)
		}
		return
	}
}
