package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/dpop"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

// loadPassword is the password of every user the tool creates.
const loadPassword = "latchkey-load-password"

// sessions is the state of every session the workers rotate. Worker w owns
// sessions w, w+C, w+2C, …, so no two workers ever present tokens of the same
// session and every chain is followed strictly: each refresh presents the
// generation the previous one returned.
//
// Sessions signed in through the API keep the tokens the server returned.
// Seeded sessions keep only their generation, and the worker mints the
// current generation's refresh (or access) token with the server's own issuer
// just before sending it: holding a million tokens would cost the load
// generator ~400 MB, and minting for every request (not only for the
// untouched ones) keeps the client's cost per request the same whether 10,000
// or 1,000,000 sessions are seeded.
type sessions struct {
	n      int
	seeded bool
	prefix uint32
	// perUser is the number of seeded sessions per user.
	perUser int
	// Seeded sessions: the issuer and lifetimes used to mint their tokens.
	iss    *token.Issuer
	policy auth.Policy

	ids     []string // signed-in sessions only
	subs    []string // signed-in sessions only
	refresh []string // signed-in sessions: the current refresh token
	access  []string // signed-in sessions: an access token
	gen     []int64
	dead    []bool // the chain broke (an error mid-rotation); skipped
	emails  []string

	// keys are the DPoP keys of mode dpop, one per worker: session i is
	// bound to keys[i%len(keys)], and the worker that owns it (runLoad
	// gives worker w the sessions of one residue modulo the worker count)
	// is the only one that uses that key. jkts are their thumbprints.
	keys []crypto.Signer
	jkts []string
	// proofs are proofs signed before the run (-dpop-presign), by key:
	// the worker that owns a key spends them first, in order.
	proofs [][]string
}

// presign signs n proofs of method and url by each key, for a run to spend
// (presigned) instead of signing as it goes.
func (s *sessions) presign(method, url string, n int) error {
	s.proofs = make([][]string, len(s.keys))
	for k, key := range s.keys {
		s.proofs[k] = make([]string, n)
		for j := range n {
			p, err := dpop.NewProof(key, method, url, dpop.ProofOptions{})
			if err != nil {
				return err
			}
			s.proofs[k][j] = p
		}
	}
	return nil
}

// presigned returns the next unspent proof of session i's key, or "" when
// none is left. Only the worker that owns the key calls it.
func (s *sessions) presigned(i int) string {
	if len(s.proofs) == 0 {
		return ""
	}
	k := i % len(s.proofs)
	if len(s.proofs[k]) == 0 {
		return ""
	}
	p := s.proofs[k][0]
	s.proofs[k] = s.proofs[k][1:]
	return p
}

// newKeys returns n keys of alg (ES256: ECDSA P-256, EdDSA: Ed25519) and
// their RFC 7638 thumbprints.
func newKeys(n int, alg string) ([]crypto.Signer, []string, error) {
	keys, jkts := make([]crypto.Signer, n), make([]string, n)
	for i := range keys {
		var k crypto.Signer
		var err error
		switch alg {
		case dpop.ES256:
			k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		case dpop.EdDSA:
			_, k, err = ed25519.GenerateKey(rand.Reader)
		default:
			err = fmt.Errorf("-dpop-alg %q: want %s or %s", alg, dpop.ES256, dpop.EdDSA)
		}
		if err != nil {
			return nil, nil, err
		}
		if jkts[i], err = dpop.Thumbprint(k.Public()); err != nil {
			return nil, nil, err
		}
		keys[i] = k
	}
	return keys, jkts, nil
}

// keyOf returns the DPoP key session i is bound to (nil without keys).
func (s *sessions) keyOf(i int) crypto.Signer {
	if len(s.keys) == 0 {
		return nil
	}
	return s.keys[i%len(s.keys)]
}

// jktOf returns the thumbprint session i is bound to ("" without keys).
func (s *sessions) jktOf(i int) string {
	if len(s.jkts) == 0 {
		return ""
	}
	return s.jkts[i%len(s.jkts)]
}

func seededUserID(prefix uint32, i int) string {
	return fmt.Sprintf("%08x-0000-7000-8000-%012x", prefix, i)
}

func seededSessionID(prefix uint32, i int) string {
	return fmt.Sprintf("%08x-0001-7000-8000-%012x", prefix, i)
}

func seededEmail(prefix uint32, i int) string {
	return fmt.Sprintf("load-%08x-%d@example.test", prefix, i)
}

func (s *sessions) sessionID(i int) string {
	if s.seeded {
		return seededSessionID(s.prefix, i)
	}
	return s.ids[i]
}

func (s *sessions) subject(i int) string {
	if s.seeded {
		return seededUserID(s.prefix, i/s.perUser)
	}
	return s.subs[i]
}

// refreshToken returns the token that continues session i's chain.
func (s *sessions) refreshToken(i int) (string, error) {
	if !s.seeded {
		return s.refresh[i], nil
	}
	now := time.Now()
	tok, _, err := s.iss.MintRefresh(token.RefreshClaims{Subject: s.subject(i), SessionID: s.sessionID(i),
		Generation: s.gen[i], JKT: s.jktOf(i), IssuedAt: now, ExpiresAt: now.Add(s.policy.RefreshTTL)})
	return tok, err
}

// accessToken returns an access token of session i.
func (s *sessions) accessToken(i int) (string, error) {
	if !s.seeded {
		return s.access[i], nil
	}
	now := time.Now()
	tok, _, err := s.iss.MintAccess(token.AccessClaims{Subject: s.subject(i), SessionID: s.sessionID(i),
		JKT: s.jktOf(i), IssuedAt: now, ExpiresAt: now.Add(s.policy.AccessTTL)})
	return tok, err
}

// seedStore inserts n sessions (perUser per user) directly through the store,
// with maxPerUser 0 (no eviction), for the runs with far more sessions than
// argon2id sign-ins could create. The users get one real argon2id hash of
// loadPassword, so the signin mode works with them too.
func seedStore(ctx context.Context, st store.Store, iss *token.Issuer, policy auth.Policy, n, perUser, workers int,
	prefix uint32, keys []crypto.Signer, jkts []string, progress io.Writer) (*sessions, error) {
	hash, err := password.New(password.Default, 1, 1).Hash(ctx, loadPassword)
	if err != nil {
		return nil, err
	}
	s := &sessions{n: n, seeded: true, prefix: prefix, perUser: perUser, iss: iss, policy: policy,
		gen: make([]int64, n), dead: make([]bool, n), keys: keys, jkts: jkts}
	now := time.Now().UTC()
	var next atomic.Int64
	var done atomic.Int64
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if i%perUser == 0 {
					u := i / perUser
					if err := st.CreateUser(ctx, store.User{ID: seededUserID(prefix, u), Email: seededEmail(prefix, u),
						PasswordHash: hash, Status: store.UserActive, CreatedAt: now, UpdatedAt: now}); err != nil {
						errc <- fmt.Errorf("seed user %d: %w", u, err)
						return
					}
				} else {
					// The user is created by the worker that took its first
					// session; wait until it exists.
					for range 1000 {
						if _, err := st.UserByID(ctx, seededUserID(prefix, i/perUser)); err == nil {
							break
						}
						time.Sleep(time.Millisecond)
					}
				}
				if _, err := st.CreateSession(ctx, store.Session{ID: seededSessionID(prefix, i), UserID: seededUserID(prefix, i/perUser),
					Generation: 1, CreatedAt: now, LastRefreshedAt: now, RefreshExpiresAt: now.Add(policy.RefreshTTL),
					AbsoluteExpiresAt: now.Add(policy.SessionMaxLifetime), UserAgent: "latchkey-load", IP: "127.0.0.1",
					JKT: s.jktOf(i)}, 0); err != nil {
					errc <- fmt.Errorf("seed session %d: %w", i, err)
					return
				}
				s.gen[i] = 1
				if d := done.Add(1); d%100000 == 0 {
					fmt.Fprintf(progress, "seeded %d sessions (%.0f/s)\n", d, float64(d)/time.Since(start).Seconds())
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "seeded %d sessions of %d users through the store in %s (%.0f sessions/s)\n",
		n, (n+perUser-1)/perUser, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
	return s, nil
}

// signInAll signs up users and signs in n sessions through the canonical API
// (argon2id for every one: slow, and the honest path for small n).
func signInAll(ctx context.Context, c *http.Client, base string, n, perUser, workers int, prefix uint32,
	keys []crypto.Signer, jkts []string, progress io.Writer) (*sessions, error) {
	s := &sessions{n: n, prefix: prefix, perUser: perUser, ids: make([]string, n), subs: make([]string, n),
		refresh: make([]string, n), access: make([]string, n), gen: make([]int64, n), dead: make([]bool, n),
		keys: keys, jkts: jkts}
	users := (n + perUser - 1) / perUser
	s.emails = make([]string, users)
	start := time.Now()
	err := parallel(ctx, users, workers, func(u int) error {
		s.emails[u] = seededEmail(prefix, u)
		for attempt := 0; ; attempt++ {
			st, body, err := postJSON(ctx, c, base+"/auth/sign-up", map[string]string{"email": s.emails[u], "password": loadPassword})
			if err == nil && st == http.StatusServiceUnavailable && attempt < 50 {
				time.Sleep(100 * time.Millisecond) // the sign-ups' share of the hasher is taken: the server's cap at work
				continue
			}
			if err != nil || (st != http.StatusCreated && st != http.StatusConflict) {
				return fmt.Errorf("sign-up: %d %s %v", st, body, err)
			}
			return nil
		}
	})
	if err != nil {
		return nil, err
	}
	err = parallel(ctx, n, workers, func(i int) error {
		var out struct {
			AccessToken  string `json:"accessToken"`
			RefreshToken string `json:"refreshToken"`
		}
		for attempt := 0; ; attempt++ {
			var hdr []string
			if key := s.keyOf(i); key != nil {
				// Bound to the key of the worker that will own session i.
				p, err := dpop.NewProof(key, http.MethodPost, base+"/auth/sign-in", dpop.ProofOptions{})
				if err != nil {
					return err
				}
				hdr = append(hdr, "DPoP", p)
			}
			st, body, err := postJSON(ctx, c, base+"/auth/sign-in", map[string]string{"email": s.emails[i/perUser], "password": loadPassword}, hdr...)
			if err != nil {
				return err
			}
			if (st == http.StatusServiceUnavailable || st == http.StatusTooManyRequests) && attempt < 50 {
				time.Sleep(100 * time.Millisecond) // the hash queue is full: the server's cap at work
				continue
			}
			if st != http.StatusOK {
				return fmt.Errorf("sign-in: %d %s", st, body)
			}
			if err := json.Unmarshal(body, &out); err != nil {
				return err
			}
			break
		}
		claims, err := unverifiedRefreshClaims(out.RefreshToken)
		if err != nil {
			return err
		}
		s.ids[i], s.subs[i], s.gen[i] = claims.Sid, claims.Sub, claims.Gen
		s.refresh[i], s.access[i] = out.RefreshToken, out.AccessToken
		return nil
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "signed in %d sessions of %d users through the API in %s\n", n, users, time.Since(start).Round(time.Millisecond))
	return s, nil
}

func parallel(ctx context.Context, n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// postJSON posts v as JSON with the headers given as name, value pairs.
func postJSON(ctx context.Context, c *http.Client, url string, v any, headers ...string) (int, []byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}
