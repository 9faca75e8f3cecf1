// Package password hashes and verifies passwords with argon2id (OWASP's
// recommendation: m=19 MiB, t=2, p=1), encoded as PHC strings, and verifies
// the bcrypt hashes of imported users so they can be re-hashed on their next
// sign-in.
//
// Hashing is deliberately expensive (~70 ms and ~20 MB each), so a Hasher
// bounds how many run at once and how many may wait: beyond that it answers
// ErrBusy at once instead of queueing without bound under a sign-in flood.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Params are argon2id parameters. Memory is in KiB.
type Params struct {
	Memory  uint32
	Time    uint32
	Threads uint8
	KeyLen  uint32
	SaltLen uint32
}

// Default is the production setting. Tests use Cheap.
var (
	Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}
	// Cheap is for tests only: never use it in production.
	Cheap = Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
)

// ErrBusy means every hashing slot and queue place is taken.
var ErrBusy = errors.New("password: too many password checks in progress")

// MaxLength bounds the password length accepted anywhere (bytes); longer
// input is refused before hashing.
const MaxLength = 1024

// Hasher hashes and verifies passwords with bounded concurrency.
type Hasher struct {
	p         Params
	slots     chan struct{} // running hashes
	waiting   chan struct{} // running plus queued
	signUps   chan struct{} // sign-ups holding a place, running or queued (HashSignUp)
	signUpRun chan struct{} // sign-ups holding a hashing place (HashSignUp)
	dummy     string        // a hash to verify against for unknown users
	refused   atomic.Uint64 // checks and hashes answered ErrBusy

	onPriorityError func(error) // see OnPriorityError
	priorityOnce    sync.Once
}

// OnPriorityError makes the Hasher call f, once, the first time lowering a
// hash thread's CPU priority fails (lowprio_linux.go): the hashes then run
// at the process's own priority and compete with every other request. Call
// it before the Hasher is used; the server logs a warning with it.
func (h *Hasher) OnPriorityError(f func(error)) { h.onPriorityError = f }

// lowPriority runs f at a lower CPU priority where the platform allows, and
// reports the first failure to do so.
func (h *Hasher) lowPriority(f func()) {
	if err := lowPriority(f); err != nil && h.onPriorityError != nil {
		h.priorityOnce.Do(func() { h.onPriorityError(err) })
	}
}

// New returns a Hasher running at most concurrency hashes at once with at
// most queue more waiting.
func New(p Params, concurrency, queue int) *Hasher {
	if concurrency < 1 {
		concurrency = 1
	}
	if queue < 0 {
		queue = 0
	}
	h := &Hasher{p: p, slots: make(chan struct{}, concurrency), waiting: make(chan struct{}, concurrency+queue),
		signUps: make(chan struct{}, SignUpPlaces(concurrency, queue)), signUpRun: make(chan struct{}, SignUpShare(concurrency))}
	h.dummy = h.hash(randomBytes(16))
	return h
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.waiting <- struct{}{}:
	default:
		h.refused.Add(1)
		return ErrBusy
	}
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		<-h.waiting
		return ctx.Err()
	}
}

// Saturated reports whether every hashing slot and queue place is taken at
// this moment, so that a check started now would fail with ErrBusy. Callers
// use it to refuse early, before work that would be wasted (a sign-in's
// user lookup); it is a hint, and the check itself still decides.
func (h *Hasher) Saturated() bool { return len(h.waiting) == cap(h.waiting) }

// Busy returns ErrBusy when the hasher is Saturated, counted in
// Stats.Refused as a refused check is, and nil otherwise. A caller that
// refuses early on the Saturated hint uses it, so that every request turned
// away for lack of hashing capacity is counted once.
func (h *Hasher) Busy() error {
	if !h.Saturated() {
		return nil
	}
	h.refused.Add(1)
	return ErrBusy
}

// Stats is a snapshot of a Hasher's capacity and load, for metrics.
type Stats struct {
	Slots     int    // hashes that may run at once
	QueueSize int    // places for hashes waiting for a slot
	Running   int    // hashes running now
	Queued    int    // hashes waiting for a slot now
	Refused   uint64 // checks and hashes refused with ErrBusy since New
}

// Stats returns the hasher's capacity and load at this moment. Running and
// Queued are read without a lock, a moment apart: exact when nothing
// moves, close enough for a gauge when it does.
func (h *Hasher) Stats() Stats {
	running, held := len(h.slots), len(h.waiting)
	return Stats{Slots: cap(h.slots), QueueSize: cap(h.waiting) - cap(h.slots), Running: running,
		Queued: max(held-running, 0), Refused: h.refused.Load()}
}

func (h *Hasher) release() {
	<-h.slots
	<-h.waiting
}

// SignUpShare is how many hashes for new accounts may run or wait at once
// on a Hasher with concurrency slots: half of them, at least one.
func SignUpShare(concurrency int) int { return max(1, concurrency/2) }

// SignUpPlaces is how many sign-ups may be in progress at once, hashing or
// waiting their turn: half of every place, running or queued, and at least
// SignUpShare. A few people signing up in the same moment then wait a hash
// or two instead of being refused, on the smallest machine too.
func SignUpPlaces(concurrency, queue int) int {
	return max(SignUpShare(concurrency), (max(concurrency, 1)+max(queue, 0))/2)
}

// HashSignUp is Hash for a new account. At most SignUpPlaces sign-ups are in
// progress at once (beyond that HashSignUp answers ErrBusy at once), and of
// those at most SignUpShare hold a place in the hasher, running or queued;
// the others wait for one of those, outside the hasher. Sign-ins keep the
// rest: with two slots or more a slot is always theirs, and with one, a
// sign-in waits behind at most one sign-up hash. A flood of sign-ups can
// then never take the capacity sign-ins need.
func (h *Hasher) HashSignUp(ctx context.Context, pw string) (string, error) {
	select {
	case h.signUps <- struct{}{}:
	default:
		h.refused.Add(1)
		return "", ErrBusy
	}
	defer func() { <-h.signUps }()
	select {
	case h.signUpRun <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-h.signUpRun }()
	return h.Hash(ctx, pw)
}

// Hash returns the PHC string of pw.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hash([]byte(pw)), nil
}

func (h *Hasher) hash(pw []byte) string {
	salt := randomBytes(int(h.p.SaltLen))
	var key []byte
	h.lowPriority(func() { key = argon2.IDKey(pw, salt, h.p.Time, h.p.Memory, h.p.Threads, h.p.KeyLen) })
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.p.Memory, h.p.Time, h.p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Verify reports whether pw matches encoded, and whether encoded should be
// replaced by a fresh hash (bcrypt, or other argon2id parameters).
func (h *Hasher) Verify(ctx context.Context, encoded, pw string) (ok, rehash bool, err error) {
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	if strings.HasPrefix(encoded, "$2a$") || strings.HasPrefix(encoded, "$2b$") || strings.HasPrefix(encoded, "$2y$") {
		// bcrypt rejects passwords over 72 bytes; that is a mismatch, not an error.
		h.lowPriority(func() { ok = bcrypt.CompareHashAndPassword([]byte(encoded), []byte(pw)) == nil })
		return ok, true, nil
	}
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	var got []byte
	h.lowPriority(func() { got = argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key))) })
	ok = subtle.ConstantTimeCompare(got, key) == 1
	return ok, p != h.p, nil
}

// VerifyDummy spends the time of a real verification and always fails: the
// answer for an unknown email takes as long as for a wrong password.
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) error {
	_, _, err := h.Verify(ctx, h.dummy, pw)
	return err
}

// decode parses a PHC argon2id string, refusing parameters that would let a
// stored hash exhaust memory or CPU.
func decode(s string) (Params, []byte, []byte, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return Params{}, nil, nil, errors.New("password: unsupported hash format")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Params{}, nil, nil, errors.New("password: unsupported argon2 version")
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return Params{}, nil, nil, errors.New("password: bad argon2 parameters")
	}
	if p.Memory < 8 || p.Memory > 1<<20 || p.Time < 1 || p.Time > 16 || p.Threads < 1 {
		return Params{}, nil, nil, errors.New("password: argon2 parameters out of range")
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) < 16 || len(key) > 128 {
		return Params{}, nil, nil, errors.New("password: bad argon2 salt or key")
	}
	p.KeyLen, p.SaltLen = uint32(len(key)), uint32(len(salt))
	return p, salt, key, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("password: crypto/rand failed: " + err.Error())
	}
	return b
}
