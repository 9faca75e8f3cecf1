package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// signingKey makes kid the active key, created at t.
func (f *fixture) signingKey(kid string, t time.Time) store.SigningKey {
	f.t.Helper()
	k := store.SigningKey{KID: kid, Algorithm: "ES256", Private: []byte("pkcs8:" + kid + "\x00\xff"), CreatedAt: t}
	if err := f.s.RotateSigningKey(f.ctx, k); err != nil {
		f.t.Fatalf("RotateSigningKey(%s): %v", kid, err)
	}
	return k
}

// keys fails unless SigningKeys returns exactly want, in order.
func (f *fixture) keys(what string, want ...store.SigningKey) {
	f.t.Helper()
	got, err := f.s.SigningKeys(f.ctx)
	if err != nil {
		f.t.Fatalf("SigningKeys: %v", err)
	}
	if len(got) != len(want) {
		f.t.Fatalf("%s: SigningKeys returned %d keys, want %d", what, len(got), len(want))
	}
	for i := range want {
		f.sameKey(what, got[i], want[i])
	}
}

var errGenerate = errors.New("storetest: no entropy today")

var keyCases = []testCase{
	{
		name: "SigningKeys/Rotate",
		what: "RotateSigningKey makes the new key the only active one and retires the previous at the new key's CreatedAt; SigningKeys lists newest first with the key material intact",
		run: func(f *fixture) {
			f.keys("an empty store")
			k1 := f.signingKey("k1", at(0))
			f.keys("after the first key", k1)
			k2 := f.signingKey("k2", at(time.Hour))
			k1.RetiredAt = k2.CreatedAt
			f.keys("after the second key", k2, k1)
			k3 := f.signingKey("k3", at(2*time.Hour))
			k2.RetiredAt = k3.CreatedAt
			f.keys("after the third key", k3, k2, k1)
		},
	},
	{
		name: "SigningKeys/DuplicateKID",
		what: "rotating to a kid that exists returns ErrConflict and retires nothing",
		run: func(f *fixture) {
			k1 := f.signingKey("k1", at(0))
			k2 := f.signingKey("k2", at(time.Hour))
			k1.RetiredAt = k2.CreatedAt
			err := f.s.RotateSigningKey(f.ctx, store.SigningKey{KID: "k1", Algorithm: "ES256", Private: []byte("other"), CreatedAt: at(2 * time.Hour)})
			f.wantErr("RotateSigningKey(duplicate kid)", err, store.ErrConflict)
			f.keys("after a refused rotation", k2, k1)
		},
	},
	{
		name: "SigningKeys/Ensure",
		what: "EnsureSigningKey stores a key only when no unretired key of its algorithm exists (retiring the others as a rotation does), and of concurrent callers exactly one stores its key",
		run: func(f *fixture) {
			ensure := func(k store.SigningKey) bool {
				f.t.Helper()
				stored, err := f.s.EnsureSigningKey(f.ctx, k)
				if err != nil {
					f.t.Fatalf("EnsureSigningKey(%s): %v", k.KID, err)
				}
				return stored
			}
			k1 := store.SigningKey{KID: "e1", Algorithm: "ES256", Private: []byte("one"), CreatedAt: at(0)}
			if !ensure(k1) {
				f.t.Fatal("EnsureSigningKey on an empty store stored nothing")
			}
			f.keys("after the first key", k1)
			if ensure(store.SigningKey{KID: "e2", Algorithm: "ES256", Private: []byte("two"), CreatedAt: at(time.Hour)}) {
				f.t.Fatal("EnsureSigningKey stored a second ES256 key while one is active")
			}
			f.keys("after a second ES256 key was offered", k1)
			// Another algorithm (JWT_ALGORITHM changed): stored, the old key retired.
			k3 := store.SigningKey{KID: "e3", Algorithm: "EdDSA", Private: []byte("three"), CreatedAt: at(2 * time.Hour)}
			if !ensure(k3) {
				f.t.Fatal("EnsureSigningKey did not store the first EdDSA key")
			}
			k1.RetiredAt = k3.CreatedAt
			f.keys("after the first EdDSA key", k3, k1)

			// Instances starting together: one key between them.
			const callers = 8
			var stored atomic.Int32
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					ok, err := f.s.EnsureSigningKey(f.ctx, store.SigningKey{KID: fmt.Sprintf("r%d", i), Algorithm: "RS256",
						Private: []byte{byte(i)}, CreatedAt: at(3 * time.Hour)})
					if err != nil {
						f.t.Errorf("concurrent EnsureSigningKey %d: %v", i, err)
					}
					if ok {
						stored.Add(1)
					}
				})
			}
			wg.Wait()
			keys, err := f.s.SigningKeys(f.ctx)
			if err != nil {
				f.t.Fatal(err)
			}
			var active []string
			for _, k := range keys {
				if k.RetiredAt.IsZero() {
					active = append(active, k.KID+"/"+k.Algorithm)
				}
			}
			if stored.Load() != 1 || len(keys) != 3 || len(active) != 1 {
				f.t.Fatalf("%d concurrent EnsureSigningKey calls stored %d keys; %d keys in all, active %v; want 1 stored, 3 in all (e1, e3 and it), one active",
					callers, stored.Load(), len(keys), active)
			}
		},
	},
	{
		name: "Secret/GetOrCreate",
		what: "Secret stores generate()'s value on first use and returns it afterwards without calling generate, keeps names apart, and stores nothing when generate fails",
		run: func(f *fixture) {
			must := func(name string, gen func() ([]byte, error)) []byte {
				f.t.Helper()
				v, err := f.s.Secret(f.ctx, name, gen)
				if err != nil {
					f.t.Fatalf("Secret(%s): %v", name, err)
				}
				return v
			}
			value := []byte("first\x00secret\xff")
			got := must("refresh", func() ([]byte, error) { return bytes.Clone(value), nil })
			if !bytes.Equal(got, value) {
				f.t.Errorf("Secret(refresh) = %q, want %q", got, value)
			}
			got = must("refresh", func() ([]byte, error) {
				f.t.Error("generate called for an existing secret")
				return []byte("second"), nil
			})
			if !bytes.Equal(got, value) {
				f.t.Errorf("Secret(refresh) the second time = %q, want %q", got, value)
			}
			if _, err := f.s.Secret(f.ctx, "hs256", func() ([]byte, error) { return nil, errGenerate }); !errors.Is(err, errGenerate) {
				f.t.Errorf("Secret with a failing generate: error %v, want one wrapping %v", err, errGenerate)
			}
			if got := must("hs256", func() ([]byte, error) { return []byte("other"), nil }); string(got) != "other" {
				f.t.Errorf("Secret(hs256) = %q, want %q", got, "other")
			}
		},
	},
	{
		name: "Secret/Concurrent",
		what: "16 callers asking at once for a secret that does not exist all get the same value, one of those generated",
		run: func(f *fixture) {
			const n = 16
			var calls atomic.Int32
			values := make([][]byte, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					values[i], errs[i] = f.s.Secret(f.ctx, "refresh", func() ([]byte, error) {
						calls.Add(1)
						return fmt.Appendf(nil, "value-%d", i), nil
					})
				})
			}
			close(start)
			wg.Wait()
			for i := range n {
				if errs[i] != nil {
					f.t.Fatalf("caller %d: %v", i, errs[i])
				}
				if !bytes.Equal(values[i], values[0]) {
					f.t.Errorf("caller %d got %q, caller 0 got %q", i, values[i], values[0])
				}
			}
			var k int
			if _, err := fmt.Sscanf(string(values[0]), "value-%d", &k); err != nil || k < 0 || k >= n {
				f.t.Errorf("the stored value %q is none of the generated ones", values[0])
			}
			stored, err := f.s.Secret(f.ctx, "refresh", func() ([]byte, error) { return nil, errGenerate })
			if err != nil || !bytes.Equal(stored, values[0]) {
				f.t.Errorf("Secret afterwards = %q, %v; want %q", stored, err, values[0])
			}
			f.t.Logf("generate was called %d times for %d callers", calls.Load(), n)
		},
	},
	{
		name: "Ping",
		what: "Ping succeeds on an open store",
		run: func(f *fixture) {
			if err := f.s.Ping(f.ctx); err != nil {
				f.t.Errorf("Ping: %v", err)
			}
		},
	},
}
