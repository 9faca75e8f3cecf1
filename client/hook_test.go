package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/client"
)

// blockingHook is an OnTokens hook that persists with a saver, and blocks
// on its nth call until released, the way a slow disk does: entered gets
// the tokens it is writing.
type blockingHook struct {
	saver
	n       int32
	calls   atomic.Int32
	entered chan client.Tokens
	release chan struct{}
}

func newBlockingHook(n int32) *blockingHook {
	return &blockingHook{n: n, entered: make(chan client.Tokens, 1), release: make(chan struct{})}
}

func (h *blockingHook) save(t client.Tokens) {
	if h.calls.Add(1) == h.n {
		h.entered <- t
		<-h.release
	}
	h.saver.save(t)
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // the poll's interval, not time passing for the test
	}
}

// The process crashes while OnTokens is writing rt-2. The client used rt-2
// for nothing before the hook returned, so what is persisted, rt-1, is one
// generation behind the server, and a restart from it continues the
// session (the server answers it within its reuse interval). Had a
// goroutine traded rt-2 for rt-3 meanwhile, rt-1 would be two behind: the
// restart would be taken for theft and the session revoked.
func TestCrashWhileOnTokensPersists(t *testing.T) {
	fe := newFaultEnv(t)
	ctx := t.Context()
	hook := newBlockingHook(2) // the sign-in's, then the first refresh's
	// A margin as long as the lifetime: every call wants a refresh.
	c := fe.signedIn(t, "crash@example.com", client.OnTokens(hook.save), client.WithRefreshMargin(accessLifetime))
	rt1 := c.Tokens().RefreshToken

	errA := make(chan error, 1)
	go func() { _, err := c.Refresh(ctx); errA <- err }()
	t2 := await(t, hook.entered, "the hook") // the server has rotated to rt-2; the hook is writing it

	if c.Tokens().RefreshToken != rt1 {
		t.Fatal("the new tokens are in use before OnTokens returned")
	}
	// Calls go on with the access token they have, without waiting, and
	// refresh nothing.
	meDone := make(chan error, 1)
	go func() {
		status, err := fe.me(c)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("status %d", status)
		}
		meDone <- err
	}()
	if err := await(t, meDone, "GET /auth/me while the hook runs"); err != nil {
		t.Fatalf("GET /auth/me while the hook runs: %v", err)
	}
	// A refresh asked for now waits for the one in progress.
	errB := make(chan error, 1)
	go func() { _, err := c.Refresh(ctx); errB <- err }()
	waitFor(t, "the second Refresh to join the first", func() bool { return client.Waiting(c) == 2 })
	if n := len(fe.front.refreshes()); n != 1 {
		t.Fatalf("%d refresh requests while the hook runs; want 1", n)
	}

	// Crash now.
	persisted := hook.last(t)
	if persisted.RefreshToken != rt1 {
		t.Fatal("test setup: the hook persisted before being released")
	}
	if got, want := fe.front.generation(rt1), claims(rt1).Gen+1; got != want {
		t.Fatalf("the server is at generation %d; want %d, one ahead of what is persisted", got, want)
	}
	restarted := fe.client(t, client.WithTokens(persisted))
	if _, err := restarted.Refresh(ctx); err != nil {
		t.Fatalf("a restart from the persisted tokens: %v; want the session to go on", err)
	}
	if _, err := restarted.Me(ctx); err != nil {
		t.Fatal(err)
	}

	// (Had it not crashed:) both refreshes get rt-2, from one request.
	close(hook.release)
	if err := await(t, errA, "the first Refresh"); err != nil {
		t.Fatal(err)
	}
	if err := await(t, errB, "the second Refresh"); err != nil {
		t.Fatal(err)
	}
	if c.Tokens() != t2 || hook.last(t) != t2 {
		t.Error("the client or the hook does not have rt-2")
	}
	for _, s := range fe.front.refreshes() {
		if s.token != rt1 {
			t.Error("a refresh presented a token other than the persisted one")
		}
	}
	if fe.logged("refresh.reuse_detected") {
		t.Error("the server detected reuse")
	}
}

// A hook that panics or calls runtime.Goexit neither crashes the process
// nor leaves the goroutines waiting for the refresh hanging: they get an
// error wrapping ErrOnTokensFailed. The new tokens are kept in memory, so
// the next refresh presents them, not the superseded ones.
func TestOnTokensFailureIsReported(t *testing.T) {
	for _, tt := range []struct {
		name string
		fail func()
	}{
		{"panic", func() { panic("disk full") }},
		{"Goexit", runtime.Goexit},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fe := newFaultEnv(t)
			var (
				s       saver
				failing atomic.Bool
			)
			c := fe.signedIn(t, "hook@example.com", client.OnTokens(func(tok client.Tokens) {
				if failing.Load() {
					tt.fail()
				}
				s.save(tok)
			}))
			rt1 := c.Tokens().RefreshToken
			failing.Store(true)
			fe.world.Advance(accessLifetime) // expired: every call waits for the refresh

			errs := make(chan error, 8)
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() { _, err := fe.me(c); errs <- err })
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("callers left hanging by the hook's failure")
			}
			close(errs)
			failed := 0
			for err := range errs {
				if errors.Is(err, client.ErrOnTokensFailed) {
					failed++
				} else if err != nil {
					t.Errorf("call: %v; want ErrOnTokensFailed or success", err)
				}
			}
			if failed == 0 {
				t.Error("no call reported the hook's failure")
			}
			if c.Tokens().RefreshToken == rt1 {
				t.Fatal("the rotated tokens were dropped")
			}

			failing.Store(false)
			if _, err := c.Refresh(t.Context()); err != nil {
				t.Fatalf("Refresh after the hook's failure: %v", err)
			}
			if s.last(t).RefreshToken != c.Tokens().RefreshToken {
				t.Error("the hook did not persist the next tokens")
			}
			if fe.logged("refresh.reuse_detected") || fe.logged("refresh.reissued") {
				t.Error("the client presented a superseded refresh token")
			}
		})
	}
}

// Token has no context: it bounds its own wait, here for a hook that does
// not return, to the attempt timeout plus the reuse interval.
func TestTokenSourceBoundsItsWait(t *testing.T) {
	fe := newFaultEnv(t)
	hook := newBlockingHook(2)
	c := fe.signedIn(t, "bound@example.com", client.OnTokens(hook.save))
	defer close(hook.release)
	fe.world.Advance(accessLifetime)

	done := make(chan error, 1)
	go func() { _, err := c.TokenSource().Token(); done <- err }()
	await(t, hook.entered, "the hook")
	fe.world.AdvanceTimer(t, client.DefaultRefreshAttemptTimeout+client.DefaultReuseInterval)
	if err := await(t, done, "Token"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Token = %v; want context.DeadlineExceeded", err)
	}
}
