package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// A receiver that acknowledges an event far along its stream (a stream that
// asks only for credential-change events, or none but its own verification
// events, after a day of sign-outs; a new stream's first acknowledgement)
// makes AckEvents walk every event in between. The walk must not run in
// the single writer: sign-ins, refreshes and sign-outs submitted meanwhile
// go on committing while it reads.
func TestAckWalkDoesNotHoldTheWriter(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := db.CreateReceiver(ctx, store.Receiver{ID: "r", Name: "api", Audience: "api", CredentialHash: []byte("h"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"sparse", "other"} {
		s := store.Stream{ID: id, ReceiverID: "r", Status: store.StreamEnabled, CreatedAt: now, UpdatedAt: now,
			Delivered: []store.EventKind{store.EventCredentialChange}}
		if err := db.CreateStream(ctx, s, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	// 300,000 session-revoked events the sparse stream does not receive,
	// then one of its own.
	err = db.submit(ctx, false, func(w *wtx) error {
		_, err := w.exec(`INSERT INTO ssf_events (id, kind, session_id, user_id, reason, txn, at)
			WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300000)
			SELECT 'e' || x, 'session-revoked', 's' || x, 'u', 'signed_out', 't', ? FROM n`, now.UnixNano())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	v := store.Event{ID: "v", Kind: store.EventVerification, StreamID: "sparse", At: now}
	if err := db.AddStreamEvent(ctx, v); err != nil {
		t.Fatal(err)
	}

	acked := make(chan error, 1)
	go func() { acked <- db.AckEvents(ctx, "sparse", []string{"v"}) }()
	// Writes meanwhile (here: touches of another stream), counted until the
	// acknowledgement returns.
	writes := 0
	for done := false; !done; {
		select {
		case err := <-acked:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		default:
			if err := db.TouchStream(ctx, "other", time.Now()); err != nil {
				t.Fatal(err)
			}
			writes++
		}
	}
	if s, err := db.Stream(ctx, "sparse"); err != nil || s.Cursor == 0 {
		t.Fatalf("the acknowledgement did not move the cursor: %+v %v", s, err)
	}
	// Held behind the walk, a write or two gets in before it starts; beside
	// it, a write commits every few milliseconds for as long as it reads.
	if writes < 10 {
		t.Errorf("%d writes committed while AckEvents walked 300,000 events; want them not to wait for it", writes)
	}
}
