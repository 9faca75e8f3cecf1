package receiver

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

// fill returns a set of n revoked sessions, kept for an hour.
func fill(n int) (*revokedSet, []string) {
	s := newRevokedSet()
	now := time.Now()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("019a%04x-7c3e-7b1a-9f2e-%012x", i%0xffff, i)
		s.add(ids[i], now.Add(time.Hour).UnixNano(), now.UnixNano())
	}
	return s, ids
}

// A lookup, hit or miss, allocates nothing, with 100,000 sessions in the set.
func TestRevokedAllocatesNothing(t *testing.T) {
	s, ids := fill(100_000)
	miss := "019a0000-7c3e-7b1a-9f2e-ffffffffffff"
	if allocs := testing.AllocsPerRun(1000, func() {
		if !s.has(ids[4242]) || s.has(miss) {
			t.Fatal("wrong answer")
		}
	}); allocs != 0 {
		t.Errorf("a lookup allocates %.1f times, want 0", allocs)
	}
}

// BenchmarkRevoked is the receiver's per-request cost: one lookup in a set
// of 100,000 revoked sessions, from every CPU at once.
func BenchmarkRevoked(b *testing.B) {
	s, ids := fill(100_000)
	r := &Receiver{set: s}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_ = r.Revoked(ids[i%len(ids)])
			i += 7919
		}
	})
}

// Entries are forgotten once their time has passed, never before, even
// when they arrive out of order or are extended by a later event.
func TestSetForgets(t *testing.T) {
	s := newRevokedSet()
	s.add("a", 100, 0)
	s.add("b", 50, 0) // out of order: forgotten late, never early
	s.add("c", 80, 0)
	s.add("c", 200, 0) // extended
	s.add("d", 10, 20) // already expired: not added
	if s.has("d") {
		t.Error("an entry whose time has passed was added")
	}
	s.sweep(60)
	if !s.has("a") || !s.has("c") {
		t.Error("entries forgotten before their time")
	}
	s.sweep(100)
	if s.has("a") || s.has("b") {
		t.Error("entries kept after their time")
	}
	if !s.has("c") {
		t.Error("an extended entry was forgotten at its first time")
	}
	s.sweep(200)
	if s.len() != 0 {
		t.Errorf("%d entries left after every time passed", s.len())
	}
	// The queues are compacted as they are consumed.
	for i := range 100_000 {
		s.add(fmt.Sprint(i), int64(1000+i), int64(1000+i-1))
	}
	for i := range s.shards {
		if sh := &s.shards[i]; len(sh.queue) > 5000 || sh.head > len(sh.queue) {
			t.Errorf("shard %d: queue %d long with head %d", i, len(sh.queue), sh.head)
		}
	}
}

// BenchmarkMiddleware is the receiver's cost per request in latchkey's
// Middleware, with 100,000 revoked sessions: the same request (a valid
// ES256 access token of a live session) without a receiver and with one.
// The signature check dominates both; the difference is the lookup, and
// the allocations are the same.
func BenchmarkMiddleware(b *testing.B) {
	iss, err := token.NewIssuer(token.Options{Issuer: "https://auth.example.test", Audience: "latchkey",
		RefreshSecret: bytes.Repeat([]byte("r"), 32)})
	if err != nil {
		b.Fatal(err)
	}
	k, err := token.GenerateKey(token.ES256, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := iss.SetKeys([]store.SigningKey{k}); err != nil {
		b.Fatal(err)
	}
	tok, _, err := iss.MintAccess(token.AccessClaims{Subject: "u", SessionID: "019a0000-7c3e-7b1a-9f2e-000000abcdef",
		ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	s, _ := fill(100_000)
	r := &Receiver{set: s}
	keys := func(_ context.Context, kid string) (token.PublicKey, error) { return iss.PublicKeys()[kid], nil }
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, c := range []struct {
		name    string
		revoked func(string) bool
	}{{"without a receiver", nil}, {"with a receiver of 100000 sessions", r.Revoked}} {
		b.Run(c.name, func(b *testing.B) {
			h := latchkey.NewAuthenticator(latchkey.AuthOptions{Issuer: "https://auth.example.test", Keys: keys,
				Revoked: c.revoked}).Middleware(ok)
			req := httptest.NewRequest("GET", "/api", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusNoContent {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
