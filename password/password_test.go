package password_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey-dev/latchkey/password"
)

func TestHashVerify(t *testing.T) {
	h := password.New(password.Cheap, 2, 2)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil || !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q, %v", enc, err)
	}
	if ok, rehash, err := h.Verify(ctx, enc, "correct horse"); !ok || rehash || err != nil {
		t.Fatalf("verify = %v %v %v", ok, rehash, err)
	}
	if ok, _, _ := h.Verify(ctx, enc, "wrong"); ok {
		t.Fatal("wrong password accepted")
	}
	if err := h.VerifyDummy(ctx, "x"); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultParamsArePHCAndRehashedWhenChanged(t *testing.T) {
	strong := password.New(password.Params{Memory: 128, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}, 1, 0)
	enc, _ := strong.Hash(context.Background(), "pw")
	ok, rehash, err := password.New(password.Cheap, 1, 0).Verify(context.Background(), enc, "pw")
	if !ok || !rehash || err != nil {
		t.Fatalf("other params must verify and ask for a rehash: %v %v %v", ok, rehash, err)
	}
	if password.Default.Memory != 19*1024 || password.Default.Time != 2 || password.Default.Threads != 1 {
		t.Fatalf("production parameters changed: %+v", password.Default)
	}
}

func TestBcryptImported(t *testing.T) {
	b, _ := bcrypt.GenerateFromPassword([]byte("imported"), bcrypt.MinCost)
	h := password.New(password.Cheap, 1, 0)
	ok, rehash, err := h.Verify(context.Background(), string(b), "imported")
	if !ok || !rehash || err != nil {
		t.Fatalf("bcrypt verify = %v %v %v", ok, rehash, err)
	}
	if ok, _, err := h.Verify(context.Background(), string(b), strings.Repeat("x", 100)); ok || err != nil {
		t.Fatalf(">72 bytes must be a mismatch, not an error: %v %v", ok, err)
	}
}

func TestMalformedHashes(t *testing.T) {
	h := password.New(password.Cheap, 1, 0)
	for _, enc := range []string{"", "plain", "$argon2id$v=19$m=999999999,t=1,p=1$c2FsdA$a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=18$m=64,t=1,p=1$c2FsdA$a2V5", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5"} {
		if ok, _, err := h.Verify(context.Background(), enc, "x"); ok || err == nil {
			t.Errorf("%q: ok=%v err=%v", enc, ok, err)
		}
	}
}

// With every slot and queue place taken, a further check is refused at once
// with ErrBusy rather than queued.
func TestBoundedConcurrency(t *testing.T) {
	h := password.New(password.Params{Memory: 8 * 1024, Time: 3, Threads: 1, KeyLen: 32, SaltLen: 16}, 1, 1)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	busy := 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.Hash(ctx, "pw"); errors.Is(err, password.ErrBusy) {
				mu.Lock()
				busy++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if busy == 0 {
		t.Fatal("16 concurrent hashes with 1 slot and 1 queue place: none was refused")
	}
	ctxDone, cancel := context.WithCancel(ctx)
	cancel()
	// A cancelled context does not take a slot forever.
	_, _ = h.Hash(ctxDone, "pw")
	if _, err := h.Hash(ctx, "pw"); err != nil {
		t.Fatalf("slots leaked: %v", err)
	}
}
