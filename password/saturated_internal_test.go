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

// Sign-ups hold at most SignUpShare places, running or queued; beyond that
// HashSignUp is refused at once, and a sign-in still finds a place.
func TestSignUpShare(t *testing.T) {
	for _, c := range []struct{ slots, share int }{{1, 1}, {2, 1}, {4, 2}, {7, 3}} {
		if got := SignUpShare(c.slots); got != c.share {
			t.Errorf("SignUpShare(%d) = %d, want %d", c.slots, got, c.share)
		}
	}
	h := New(Cheap, 1, 4)
	ctx := context.Background()
	if err := h.acquire(ctx); err != nil { // a sign-in's hash holds the slot
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() { _, err := h.HashSignUp(ctx, "pw"); waiting <- err }() // queued for the slot
	for len(h.signUps) == 0 {
		select {
		case err := <-waiting:
			t.Fatalf("the first sign-up did not wait for the slot: %v", err)
		default:
		}
	}
	for range 5 {
		if _, err := h.HashSignUp(ctx, "pw"); !errors.Is(err, ErrBusy) {
			t.Fatalf("a sign-up beyond the share: %v; want ErrBusy at once", err)
		}
	}
	if h.Saturated() {
		t.Fatal("saturated by sign-ups: a sign-in would be refused")
	}
	h.release()
	if err := <-waiting; err != nil {
		t.Fatalf("the queued sign-up: %v", err)
	}
	if _, _, err := h.Verify(ctx, h.dummy, "pw"); err != nil {
		t.Fatal(err)
	}
}
