package password

import (
	"context"
	"errors"
	"testing"
)

// Saturated is true exactly when a check started now would get ErrBusy.
func TestSaturated(t *testing.T) {
	h := New(Cheap, 1, 1)
	ctx := context.Background()
	for i := range 2 { // the slot, then the queue place
		if h.Saturated() {
			t.Fatalf("saturated with %d of 2 places taken", i)
		}
		h.waiting <- struct{}{} // what acquire takes first
	}
	if !h.Saturated() {
		t.Fatal("not saturated with every place taken")
	}
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash when saturated: %v; want ErrBusy", err)
	}
	<-h.waiting
	if h.Saturated() {
		t.Fatal("saturated after a place was freed")
	}
	<-h.waiting
	if _, err := h.Hash(ctx, "pw"); err != nil {
		t.Fatal(err)
	}
}

// Stats reports the capacity, the hashes running and waiting, and every
// refusal: of a check (ErrBusy from Hash or Verify) and of an early Busy.
func TestStats(t *testing.T) {
	h := New(Cheap, 2, 3)
	want := func(w Stats) {
		t.Helper()
		if got := h.Stats(); got != w {
			t.Fatalf("Stats() = %+v, want %+v", got, w)
		}
	}
	want(Stats{Slots: 2, QueueSize: 3})
	ctx := context.Background()
	for range 2 {
		if err := h.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want(Stats{Slots: 2, QueueSize: 3, Running: 2})
	for range 3 {
		h.waiting <- struct{}{} // what a waiting acquire holds
	}
	want(Stats{Slots: 2, QueueSize: 3, Running: 2, Queued: 3})
	if _, _, err := h.Verify(ctx, h.dummy, "pw"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify when saturated: %v; want ErrBusy", err)
	}
	if err := h.Busy(); !errors.Is(err, ErrBusy) {
		t.Fatalf("Busy when saturated: %v; want ErrBusy", err)
	}
	want(Stats{Slots: 2, QueueSize: 3, Running: 2, Queued: 3, Refused: 2})
	for range 3 {
		<-h.waiting
	}
	h.release()
	if err := h.Busy(); err != nil {
		t.Fatalf("Busy with room: %v", err)
	}
	want(Stats{Slots: 2, QueueSize: 3, Running: 1, Refused: 2})
	h.release()
	if _, err := h.Hash(ctx, "pw"); err != nil {
		t.Fatal(err)
	}
	want(Stats{Slots: 2, QueueSize: 3, Refused: 2})
}

// At most SignUpPlaces sign-ups are in progress, and of those at most
// SignUpShare hold a place in the hasher; beyond that HashSignUp is refused
// at once, and a sign-in still finds a place.
func TestSignUpShare(t *testing.T) {
	for _, c := range []struct{ slots, share int }{{1, 1}, {2, 1}, {4, 2}, {7, 3}} {
		if got := SignUpShare(c.slots); got != c.share {
			t.Errorf("SignUpShare(%d) = %d, want %d", c.slots, got, c.share)
		}
	}
	for _, c := range []struct{ slots, queue, places int }{{1, 0, 1}, {1, 4, 2}, {2, 8, 5}, {4, 16, 10}, {0, -1, 1}} {
		if got := SignUpPlaces(c.slots, c.queue); got != c.places {
			t.Errorf("SignUpPlaces(%d, %d) = %d, want %d", c.slots, c.queue, got, c.places)
		}
	}
	h := New(Cheap, 1, 4) // two sign-up places, one of them in the hasher
	ctx := context.Background()
	if err := h.acquire(ctx); err != nil { // a sign-in's hash holds the slot
		t.Fatal(err)
	}
	waiting := make(chan error, 2)
	for range 2 {
		go func() { _, err := h.HashSignUp(ctx, "pw"); waiting <- err }() // one queued for the slot, one waiting its turn
	}
	for len(h.signUps) < 2 || len(h.waiting) < 2 {
		select {
		case err := <-waiting:
			t.Fatalf("a sign-up did not wait: %v", err)
		default:
		}
	}
	for range 5 {
		if _, err := h.HashSignUp(ctx, "pw"); !errors.Is(err, ErrBusy) {
			t.Fatalf("a sign-up beyond the places: %v; want ErrBusy at once", err)
		}
	}
	if got := len(h.waiting); got != 2 {
		t.Fatalf("%d places held in the hasher, want 2: the sign-in's and one sign-up's", got)
	}
	if h.Saturated() {
		t.Fatal("saturated by sign-ups: a sign-in would be refused")
	}
	h.release()
	for range 2 {
		if err := <-waiting; err != nil {
			t.Fatalf("a waiting sign-up: %v", err)
		}
	}
	if _, _, err := h.Verify(ctx, h.dummy, "pw"); err != nil {
		t.Fatal(err)
	}
}

// A sign-up waiting its turn gives up with its request.
func TestSignUpWaitEndsWithContext(t *testing.T) {
	h := New(Cheap, 1, 4)
	h.signUpRun <- struct{}{} // another sign-up holds the hasher's share
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := h.HashSignUp(ctx, "pw"); done <- err }()
	for len(h.signUps) == 0 {
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("HashSignUp after cancel: %v, want context.Canceled", err)
	}
	if len(h.signUps) != 0 {
		t.Fatal("the cancelled sign-up kept its place")
	}
}

// Attacks on waiting sign-ups (held): a sign-up cancelled while queued in
// the hasher and one cancelled while waiting outside it give back every
// place they held (hasher queue, hasher share, sign-up place), and while
// every sign-up place is taken and the slots are busy a sign-in still finds
// a queue place: sign-ups never hold more than their share of the hasher.
func TestSignUpCancelGivesBackEveryPlace(t *testing.T) {
	h := New(Cheap, 2, 8) // five sign-up places, one of them in the hasher
	ctx := context.Background()
	for range 2 { // sign-ins' hashes hold both slots
		if err := h.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, SignUpPlaces(2, 8))
	for range SignUpPlaces(2, 8) {
		go func() { _, err := h.HashSignUp(sctx, "pw"); done <- err }()
	}
	for len(h.signUps) < SignUpPlaces(2, 8) || len(h.waiting) < 3 {
		select {
		case err := <-done:
			t.Fatalf("a sign-up did not wait: %v", err)
		default:
		}
	}
	if _, err := h.HashSignUp(ctx, "pw"); !errors.Is(err, ErrBusy) {
		t.Fatalf("a sign-up beyond the places: %v; want ErrBusy", err)
	}
	if got := len(h.waiting); got != 3 {
		t.Fatalf("%d hasher places held, want 3: two sign-ins and one sign-up", got)
	}
	if h.Saturated() {
		t.Fatal("saturated by sign-ups: a sign-in would be refused")
	}
	cancel()
	for range SignUpPlaces(2, 8) {
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled sign-up: %v, want context.Canceled", err)
		}
	}
	if len(h.signUps) != 0 || len(h.signUpRun) != 0 || len(h.waiting) != 2 {
		t.Fatalf("after cancelling: %d sign-up places, %d in the hasher's share, %d hasher places held; want 0, 0, 2",
			len(h.signUps), len(h.signUpRun), len(h.waiting))
	}
	h.release()
	h.release()
}
