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
