package latchkey_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

// jwksServer is an issuer's JWKS URL whose behaviour a test switches: it
// serves the issuer's key set, fails with 503, or holds each request until
// the test releases it. It counts the requests it receives.
type jwksServer struct {
	*httptest.Server
	iss     *token.Issuer
	fetches atomic.Int32
	mode    atomic.Value // "ok", "fail" or "hold"
	entered chan struct{}
	release chan struct{}
	padding atomic.Int32 // spaces appended to the document
	keys    []store.SigningKey
}

func newJWKSServer(t *testing.T, clk *testkit.Clock) *jwksServer {
	t.Helper()
	iss, err := token.NewIssuer(token.Options{Issuer: "https://auth.example.com", Audience: "latchkey",
		RefreshSecret: []byte(strings.Repeat("r", 32)), Leeway: latchkey.AccessLeeway, PublishRetiredFor: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	k, err := token.GenerateKey(token.ES256, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.SetKeys([]store.SigningKey{k}); err != nil {
		t.Fatal(err)
	}
	s := &jwksServer{iss: iss, entered: make(chan struct{}, 16), release: make(chan struct{}), keys: []store.SigningKey{k}}
	s.mode.Store("ok")
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		switch s.mode.Load() {
		case "fail":
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		case "hold":
			s.entered <- struct{}{}
			<-s.release
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.iss.JWKS())
		w.Write([]byte(strings.Repeat(" ", int(s.padding.Load()))))
	}))
	t.Cleanup(s.Close)
	return s
}

// rotate makes a new active key (the previous ones stay published) and
// returns its kid.
func (s *jwksServer) rotate(t *testing.T, now time.Time) string {
	t.Helper()
	k, err := token.GenerateKey(token.ES256, now)
	if err != nil {
		t.Fatal(err)
	}
	s.keys = append(s.keys, k)
	if err := s.iss.SetKeys(s.keys); err != nil {
		t.Fatal(err)
	}
	return k.KID
}

// mint signs an access token with the active key.
func (s *jwksServer) mint(t *testing.T, now time.Time) string {
	t.Helper()
	tok, _, err := s.iss.MintAccess(token.AccessClaims{Subject: "u1", SessionID: "s1", IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// waitFetches polls (with a deadline) until the server has received n
// requests: a background refresh reaches it a moment after the lookup that
// started it has returned.
func (s *jwksServer) waitFetches(t *testing.T, n int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.fetches.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the JWKS received %d requests, want %d", s.fetches.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

var jwksT0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// A JWKS URL that answers 503 is not hammered: a failed fetch counts as an
// attempt, so 200 lookups of a kid the cache lacks make one fetch, and
// consecutive failures back off (MinInterval, then twice that). The
// lookups fail as "keys unavailable", not as a bad signature.
func TestRemoteKeysFailingJWKSIsNotHammered(t *testing.T) {
	clk := testkit.NewClock(jwksT0)
	s := newJWKSServer(t, clk)
	s.mode.Store("fail")
	keys := latchkey.RemoteKeys(s.URL, latchkey.RemoteOptions{Now: clk.Now, MinInterval: 10 * time.Second})
	lookups := func(n int) {
		t.Helper()
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := keys(context.Background(), "some-kid")
				if !errors.Is(err, token.ErrKeysUnavailable) || errors.Is(err, token.ErrSignature) {
					t.Errorf("lookup against a failing JWKS: %v; want token.ErrKeysUnavailable", err)
				}
			}()
		}
		wg.Wait()
	}
	lookups(200)
	if n := s.fetches.Load(); n != 1 {
		t.Fatalf("200 lookups against a JWKS answering 503 made %d fetches; want 1", n)
	}
	clk.Advance(10 * time.Second) // MinInterval after one failure
	lookups(20)
	if n := s.fetches.Load(); n != 2 {
		t.Fatalf("after MinInterval: %d fetches; want 2", n)
	}
	clk.Advance(10 * time.Second) // two failures: the wait is now 20s
	lookups(20)
	if n := s.fetches.Load(); n != 2 {
		t.Fatalf("10s after the second failure: %d fetches; want still 2 (backoff)", n)
	}
	clk.Advance(10 * time.Second)
	s.mode.Store("ok")
	if _, err := keys(context.Background(), s.iss.ActiveKeyID()); err != nil || s.fetches.Load() != 3 {
		t.Fatalf("after the backoff, with the JWKS back: %v, %d fetches; want the key after 3", err, s.fetches.Load())
	}
}

// With a stale cache and a failing JWKS, known kids keep being answered from
// the stale set (one background refresh, not one per lookup), until
// MaxAge+MaxStale; then they fail as "keys unavailable".
func TestRemoteKeysServesStaleKeysWhileRefreshing(t *testing.T) {
	clk := testkit.NewClock(jwksT0)
	s := newJWKSServer(t, clk)
	kid := s.iss.ActiveKeyID()
	keys := latchkey.RemoteKeys(s.URL, latchkey.RemoteOptions{Now: clk.Now, MaxAge: 5 * time.Minute, MaxStale: time.Hour})
	if _, err := keys(context.Background(), kid); err != nil {
		t.Fatal(err)
	}
	s.mode.Store("fail")
	clk.Advance(6 * time.Minute) // stale
	for range 100 {
		if _, err := keys(context.Background(), kid); err != nil {
			t.Fatalf("a known kid in a stale set: %v", err)
		}
	}
	s.waitFetches(t, 2)
	if _, err := keys(context.Background(), kid); err != nil || s.fetches.Load() != 2 {
		t.Fatalf("100 lookups of a known kid in a stale cache: %d fetches; want 2 (the first and one refresh)", s.fetches.Load())
	}
	clk.Advance(time.Hour) // past MaxAge+MaxStale
	if _, err := keys(context.Background(), kid); !errors.Is(err, token.ErrKeysUnavailable) {
		t.Fatalf("a key past MaxAge+MaxStale with the JWKS down: %v; want token.ErrKeysUnavailable", err)
	}
	clk.Advance(10 * time.Minute) // past any backoff
	s.mode.Store("ok")
	if _, err := keys(context.Background(), kid); err != nil {
		t.Fatalf("the JWKS is back: %v", err)
	}
}

// A slow fetch for an unknown kid holds up neither the lookups of known,
// fresh kids nor a caller that gives up; the fetch, on a context of its own,
// completes for the callers still waiting.
func TestRemoteKeysSlowFetchDoesNotStall(t *testing.T) {
	clk := testkit.NewClock(jwksT0)
	s := newJWKSServer(t, clk)
	known := s.iss.ActiveKeyID()
	// No client timeout: only the test's release ends the held fetch.
	keys := latchkey.RemoteKeys(s.URL, latchkey.RemoteOptions{Now: clk.Now, Client: &http.Client{}, Timeout: time.Minute})
	if _, err := keys(context.Background(), known); err != nil {
		t.Fatal(err)
	}
	released := false
	defer func() {
		if !released {
			close(s.release)
		}
	}()
	s.mode.Store("hold")
	newKid := s.rotate(t, clk.Now())
	clk.Advance(11 * time.Second)
	waiter := make(chan error, 1)
	go func() { _, err := keys(context.Background(), newKid); waiter <- err }()
	<-s.entered // the fetch for the new kid is under way, and held

	got := make(chan error, 1)
	go func() { _, err := keys(context.Background(), known); got <- err }()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("a known, fresh kid during a slow fetch: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a known, fresh kid waited behind a slow fetch of the JWKS")
	}

	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { _, err := keys(ctx, newKid); gaveUp <- err }()
	cancel()
	if err := <-gaveUp; !errors.Is(err, token.ErrKeysUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("a caller that gave up: %v; want token.ErrKeysUnavailable wrapping context.Canceled", err)
	}

	s.mode.Store("ok")
	close(s.release)
	released = true
	if err := <-waiter; err != nil {
		t.Fatalf("the caller waiting for the fetch of a new kid: %v", err)
	}
	if _, err := keys(context.Background(), newKid); err != nil || s.fetches.Load() != 2 {
		t.Fatalf("after the fetch: %v, %d fetches; want the new key after 2", err, s.fetches.Load())
	}
}

// A JWKS document longer than MaxBytes is a failed fetch, not a truncated
// read.
func TestRemoteKeysSizeLimit(t *testing.T) {
	clk := testkit.NewClock(jwksT0)
	s := newJWKSServer(t, clk)
	kid := s.iss.ActiveKeyID()
	doc := int64(len(s.iss.JWKS()))
	s.padding.Store(100)
	keys := latchkey.RemoteKeys(s.URL, latchkey.RemoteOptions{Now: clk.Now, MaxBytes: doc + 50})
	if _, err := keys(context.Background(), kid); !errors.Is(err, token.ErrKeysUnavailable) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a JWKS over MaxBytes: %v", err)
	}
	s.padding.Store(50)
	clk.Advance(time.Minute)
	if _, err := keys(context.Background(), kid); err != nil {
		t.Fatalf("a JWKS of exactly MaxBytes: %v", err)
	}
}

// A token whose kid is not in a freshly fetched set is refused as an
// unknown key (401), not as an outage.
func TestRemoteKeysUnknownKid(t *testing.T) {
	clk := testkit.NewClock(jwksT0)
	s := newJWKSServer(t, clk)
	keys := latchkey.RemoteKeys(s.URL, latchkey.RemoteOptions{Now: clk.Now})
	for range 20 {
		_, err := keys(context.Background(), "made-up")
		if !errors.Is(err, token.ErrUnknownKey) || errors.Is(err, token.ErrKeysUnavailable) {
			t.Fatalf("a made-up kid: %v; want token.ErrUnknownKey", err)
		}
	}
	if n := s.fetches.Load(); n != 1 {
		t.Fatalf("20 made-up kids: %d fetches; want 1", n)
	}
}
