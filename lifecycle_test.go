package latchkey_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/ssf"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

// A Policy built field by field that forgets a lifetime is refused by New,
// naming the field, instead of signing tokens that are already expired.
func TestNewValidatesPolicy(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "lk.db"))
	for _, tc := range []struct {
		policy auth.Policy
		field  string
	}{
		{auth.Policy{AccessTTL: 5 * time.Minute}, "Policy.RefreshTTL"},
		{auth.Policy{RefreshTTL: time.Hour, SessionMaxLifetime: time.Hour}, "Policy.AccessTTL"},
		{auth.Policy{AccessTTL: time.Minute, RefreshTTL: time.Hour}, "Policy.SessionMaxLifetime"},
		{func() auth.Policy { p := auth.DefaultPolicy(); p.ReuseInterval = -time.Second; return p }(), "Policy.ReuseInterval"},
		{func() auth.Policy { p := auth.DefaultPolicy(); p.MaxSessionsPerUser = -1; return p }(), "Policy.MaxSessionsPerUser"},
	} {
		_, err := latchkey.New(context.Background(), latchkey.Options{Store: st, Issuer: "http://localhost",
			RefreshSecret: []byte(strings.Repeat("r", 32)), Policy: &tc.policy})
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("policy %+v: %v; want an error naming %s", tc.policy, err, tc.field)
		}
	}
	p := auth.DefaultPolicy()
	p.AccessTTL = 5 * time.Minute
	h, err := latchkey.New(context.Background(), latchkey.Options{Store: st, Issuer: "http://localhost",
		RefreshSecret: []byte(strings.Repeat("r", 32)), Policy: &p})
	if err != nil {
		t.Fatalf("DefaultPolicy() with one change: %v", err)
	}
	h.Close()
}

// Neither the dialect list nor the default policy is shared state: changing
// what AllDialects, DefaultPolicy or the caller's Dialects slice hold
// changes nothing for New or for a Handler already built.
func TestDefaultsAreNotShared(t *testing.T) {
	all := latchkey.AllDialects()
	all[0] = "changed"
	if latchkey.AllDialects()[0] != latchkey.Canonical {
		t.Fatal("AllDialects() returned shared state")
	}
	p := auth.DefaultPolicy()
	p.AccessTTL = time.Nanosecond
	if auth.DefaultPolicy().AccessTTL != 15*time.Minute {
		t.Fatal("DefaultPolicy() returned shared state")
	}
	st := openSQLite(t, filepath.Join(t.TempDir(), "lk.db"))
	ds := []string{latchkey.Canonical}
	h, err := latchkey.New(context.Background(), latchkey.Options{Store: st, Issuer: "http://localhost",
		RefreshSecret: []byte(strings.Repeat("r", 32)), Dialects: ds})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ds[0] = latchkey.OAuth2
	mux := http.NewServeMux()
	h.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("POST", "/oauth/token", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("the caller's slice changed after New switched the oauth2 dialect on: %d", rec.Code)
	}
}

// The background jobs New starts: the signing keys are reloaded every
// KeyReloadInterval (a key rotated by another instance is used for signing
// here), and dead sessions are purged every PurgeInterval. Close stops
// them, and may be called twice.
func TestBackgroundJobs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lk.db")
	a := newAPI(t, openSQLite(t, path), nil)
	bStore := openSQLite(t, path)
	b := newAPI(t, bStore, func(o *latchkey.Options) {
		o.KeyReloadInterval, o.PurgeInterval, o.Issuer = 5*time.Millisecond, 5*time.Millisecond, a.URL
		o.DPoPPurgeInterval = 5 * time.Millisecond
	})
	// A used DPoP proof that has expired is purged (re-recording it
	// succeeds once it is gone).
	expired := store.ProofUse{Key: []byte("an expired proof"), Expires: b.clk.Now().Add(-time.Second)}
	if err := bStore.UseProof(context.Background(), expired); err != nil {
		t.Fatal(err)
	}
	poll(t, "the expired proof is purged", func() bool { return bStore.UseProof(context.Background(), expired) == nil })
	kid, err := a.lk.Tokens.RotateKey(context.Background(), a.st, token.ES256)
	if err != nil {
		t.Fatal(err)
	}
	poll(t, "B signs with the key A rotated in", func() bool { return b.lk.Tokens.ActiveKeyID() == kid })

	g, err := b.lk.Service.SignIn(context.Background(), "ann@example.com", "correct horse", auth.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	rcv, _, err := ssf.CreateReceiver(context.Background(), bStore, "api", "", b.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	stream := store.Stream{ID: "s1", ReceiverID: rcv.ID, Delivered: []store.EventKind{store.EventSessionRevoked},
		Status: store.StreamEnabled, CreatedAt: b.clk.Now(), UpdatedAt: b.clk.Now()}
	if err := bStore.CreateStream(context.Background(), stream, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := b.lk.Service.SignOut(context.Background(), auth.Principal{UserID: g.Session.UserID, SessionID: g.Session.ID}, auth.ScopeLocal); err != nil {
		t.Fatal(err)
	}
	b.clk.Advance(time.Second) // the session was revoked before now: purgeable
	poll(t, "the revoked session is purged", func() bool {
		_, err := bStore.Session(context.Background(), g.Session.ID)
		return errors.Is(err, store.ErrNotFound)
	})
	events := func() int {
		es, err := bStore.StreamEvents(context.Background(), "s1", 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	if n := events(); n != 1 {
		t.Fatalf("%d security events of the sign-out, want 1 kept past the session's purge", n)
	}
	// Its access tokens have all expired an EventRetentionMargin ago.
	b.clk.Advance(15*time.Minute + latchkey.AccessLeeway + latchkey.EventRetentionMargin)
	poll(t, "the sign-out's security event is purged", func() bool { return events() == 0 })
	if err := b.lk.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.lk.Close(); err != nil {
		t.Fatal(err)
	}
}

func poll(t *testing.T, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("not done within 10s: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
