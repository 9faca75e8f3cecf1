package client_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-dev/latchkey/client"
)

// saver is an OnTokens hook that keeps every set of tokens as JSON, the
// way an application persists them.
type saver struct {
	mu   sync.Mutex
	sets [][]byte
}

func (s *saver) save(t client.Tokens) {
	raw, err := json.Marshal(t)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	s.sets = append(s.sets, raw)
	s.mu.Unlock()
}

func (s *saver) len() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.sets) }

// last returns the last saved tokens, read back from JSON.
func (s *saver) last(t *testing.T) client.Tokens {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var tok client.Tokens
	if err := json.Unmarshal(s.sets[len(s.sets)-1], &tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestOnTokensSeesEveryNewRefreshToken(t *testing.T) {
	e := newEnv(t)
	var s saver
	c := e.signedIn(t, "la@example.com", client.OnTokens(s.save))
	if s.len() != 1 || s.last(t).RefreshToken != c.Tokens().RefreshToken {
		t.Fatalf("after SignIn the hook saw %d sets; want the sign-in's", s.len())
	}
	seen := map[string]bool{c.Tokens().RefreshToken: true}
	for i := range 3 {
		e.clock.Advance(accessLifetime)
		e.srv.Clock.Advance(accessLifetime)
		if got := get(t, e, c); got != http.StatusOK {
			t.Fatalf("call %d: %d", i, got)
		}
		last := s.last(t)
		if s.len() != i+2 || last.RefreshToken != c.Tokens().RefreshToken || seen[last.RefreshToken] {
			t.Fatalf("after refresh %d the hook saw %d sets; want a new refresh token each time", i+1, s.len())
		}
		seen[last.RefreshToken] = true
	}
}

// An application that restarts passes the persisted tokens back and
// carries on with the same session.
func TestResumeFromPersistedTokens(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	var s saver
	first := e.signedIn(t, "ma@example.com", client.OnTokens(s.save))
	sessions, err := first.Sessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	// "Restart": the first client is never used again.

	// With the whole set the access token is used as it is.
	resumed := e.client(t, client.WithTokens(s.last(t)), client.OnTokens(s.save))
	if _, err := resumed.Me(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.hits.count("POST /token"); n != 1 {
		t.Errorf("%d refreshes; want only the first client's", n)
	}
	e.clock.Advance(accessLifetime)
	e.srv.Clock.Advance(accessLifetime)
	if _, err := resumed.Me(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.hits.count("POST /token"); n != 2 {
		t.Errorf("%d refreshes; want one more by the resumed client", n)
	}

	// A refresh token alone is enough: the first call refreshes.
	again := e.client(t, client.WithTokens(client.Tokens{RefreshToken: s.last(t).RefreshToken}))
	if _, err := again.Me(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := again.Sessions(ctx)
	if err != nil || len(list) != 1 || list[0].ID != sessions[0].ID {
		t.Errorf("Sessions = %+v, %v; want the original session %s", list, err, sessions[0].ID)
	}
	e.noReuse(t)
}

// Two processes restored from the same persisted tokens refresh one after
// the other within the server's reuse interval: the second gets the
// session's current tokens reissued, and the client keeps what it got.
func TestKeepsReissuedTokens(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	var s saver
	e.signedIn(t, "na@example.com", client.OnTokens(s.save))
	saved := s.last(t)
	a := e.client(t, client.WithTokens(saved))
	b := e.client(t, client.WithTokens(saved))
	if _, err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	e.srv.Clock.Advance(time.Second)
	tb, err := b.Refresh(ctx)
	if err != nil {
		t.Fatalf("Refresh within the reuse interval: %v", err)
	}
	if !strings.Contains(e.srv.Logs.String(), "refresh.reissued") {
		t.Fatal("test setup: the server did not reissue")
	}
	if tb.RefreshToken == saved.RefreshToken || b.Tokens() != tb {
		t.Error("b did not keep the reissued tokens")
	}
	for _, c := range []*client.Client{a, b} {
		if _, err := c.Me(ctx); err != nil {
			t.Errorf("Me: %v", err)
		}
	}
}

func TestTokenSourceWithOAuth2(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn(t, "oa@example.com")
	src := c.TokenSource()

	tok, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	cur := c.Tokens()
	if tok.AccessToken != cur.AccessToken || tok.RefreshToken != cur.RefreshToken || tok.Type() != "Bearer" || !tok.Expiry.Equal(cur.Expiry) {
		t.Errorf("Token() = %+v; want the client's %+v", tok, cur)
	}

	api := oauth2.NewClient(t.Context(), src)
	resp, err := api.Get(e.srv.URL + "/auth/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /auth/me through oauth2.NewClient = %d", resp.StatusCode)
	}

	// Shortly before expiry by the client's clock, Token refreshes.
	e.clock.Advance(accessLifetime - 10*time.Second)
	next, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if next.AccessToken == tok.AccessToken || next.RefreshToken == tok.RefreshToken || e.hits.count("POST /token") != 1 {
		t.Errorf("Token() near expiry did not refresh once (%d refreshes)", e.hits.count("POST /token"))
	}

	if err := c.SignOut(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Token(); !client.IsReauthRequired(err) {
		t.Errorf("Token() after SignOut = %v; want a reauth error", err)
	}
}
