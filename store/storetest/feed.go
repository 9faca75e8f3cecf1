package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// RunFeed runs the conformance cases of the store.Feed contract (the
// security-event feed of the SSF transmitter) as subtests of t, each against
// a new store from newStore, which must also implement store.Feed.
func RunFeed(t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, group := range [][]testCase{receiverCases, streamCases, deliveryCases, leaseCases, outboxCases, backlogCases} {
		for _, c := range group {
			t.Run(c.name, func(t *testing.T) {
				t.Cleanup(func() {
					if t.Failed() {
						t.Logf("this case checks that %s", c.what)
					}
				})
				s := newStore(t)
				if _, ok := s.(store.Feed); !ok {
					t.Fatalf("%T does not implement store.Feed", s)
				}
				c.run(&fixture{t: t, ctx: t.Context(), s: s})
			})
		}
	}
}

// feed returns the fixture's store as a store.Feed.
func (f *fixture) feed() store.Feed { return f.s.(store.Feed) }

// receiver registers a receiver with a unique name and credential.
func (f *fixture) receiver() store.Receiver {
	f.t.Helper()
	id := newID()
	hash := sha256.Sum256([]byte("credential " + id))
	r := store.Receiver{ID: id, Name: "api-" + id[:8], Audience: "https://api-" + id[:8] + ".example", CredentialHash: hash[:], CreatedAt: base}
	if err := f.feed().CreateReceiver(f.ctx, r); err != nil {
		f.t.Fatalf("CreateReceiver(%s): %v", r.Name, err)
	}
	return r
}

// stream creates an enabled poll stream of receiverID that is delivered
// session-revoked events, starting with the next event.
func (f *fixture) stream(receiverID string, mods ...func(*store.Stream)) store.Stream {
	f.t.Helper()
	s := store.Stream{ID: newID(), ReceiverID: receiverID,
		Requested: []string{"https://schemas.openid.net/secevent/caep/event-type/session-revoked"},
		Delivered: []store.EventKind{store.EventSessionRevoked}, Description: "storetest",
		Status: store.StreamEnabled, CreatedAt: base, UpdatedAt: base}
	for _, m := range mods {
		m(&s)
	}
	if err := f.feed().CreateStream(f.ctx, s, time.Time{}); err != nil {
		f.t.Fatalf("CreateStream: %v", err)
	}
	return f.getStream(s.ID)
}

func (f *fixture) getStream(id string) store.Stream {
	f.t.Helper()
	s, err := f.feed().Stream(f.ctx, id)
	if err != nil {
		f.t.Fatalf("Stream(%s): %v", id, err)
	}
	return s
}

// verification records a verification event for streamID and returns it.
func (f *fixture) verification(streamID, state string, at time.Time) store.Event {
	f.t.Helper()
	e := store.Event{ID: newID(), Kind: store.EventVerification, StreamID: streamID, State: state, Txn: newID(), At: at}
	if err := f.feed().AddStreamEvent(f.ctx, e); err != nil {
		f.t.Fatalf("AddStreamEvent: %v", err)
	}
	return e
}

// events returns up to 100 of the stream's pending events.
func (f *fixture) events(streamID string) []store.Event {
	f.t.Helper()
	es, err := f.feed().StreamEvents(f.ctx, streamID, 100)
	if err != nil {
		f.t.Fatalf("StreamEvents(%s): %v", streamID, err)
	}
	return es
}

// ack acknowledges ids for streamID.
func (f *fixture) ack(streamID string, ids ...string) {
	f.t.Helper()
	if err := f.feed().AckEvents(f.ctx, streamID, ids); err != nil {
		f.t.Fatalf("AckEvents(%s): %v", streamID, err)
	}
}

// eventIDs returns the ids of es, in order.
func eventIDs(es []store.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

// ascending fails unless the events' seqs strictly increase.
func (f *fixture) ascending(what string, es []store.Event) {
	f.t.Helper()
	for i := 1; i < len(es); i++ {
		if es[i].Seq <= es[i-1].Seq {
			f.t.Errorf("%s: seq %d follows seq %d; want increasing", what, es[i].Seq, es[i-1].Seq)
		}
	}
}

func (f *fixture) sameStream(what string, got, want store.Stream) {
	f.t.Helper()
	f.report(what, slices.Concat(
		field("ID", got.ID, want.ID),
		field("ReceiverID", got.ReceiverID, want.ReceiverID),
		field("Push", got.Push, want.Push),
		field("EndpointURL", got.EndpointURL, want.EndpointURL),
		field("Authorization", got.Authorization, want.Authorization),
		field("Requested", fmtList(got.Requested), fmtList(want.Requested)),
		field("Delivered", fmtList(got.Delivered), fmtList(want.Delivered)),
		field("Description", got.Description, want.Description),
		field("Status", got.Status, want.Status),
		field("StatusReason", got.StatusReason, want.StatusReason),
		sameTime("CreatedAt", got.CreatedAt, want.CreatedAt),
		sameTime("UpdatedAt", got.UpdatedAt, want.UpdatedAt),
	))
}

func fmtList[T ~string](l []T) string {
	var b bytes.Buffer
	for i, x := range l {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(x))
	}
	return b.String()
}

var receiverCases = []testCase{
	{
		name: "Receiver/CreateAndRead",
		what: "a receiver reads back exactly, by credential hash and in the list (ordered by name)",
		run: func(f *fixture) {
			a, b := f.receiver(), f.receiver()
			got, err := f.feed().ReceiverByCredential(f.ctx, a.CredentialHash)
			if err != nil {
				f.t.Fatalf("ReceiverByCredential: %v", err)
			}
			if got.ID != a.ID || got.Name != a.Name || got.Audience != a.Audience || !bytes.Equal(got.CredentialHash, a.CredentialHash) {
				f.t.Errorf("ReceiverByCredential = %+v, want %+v", got, a)
			}
			f.report("receiver", sameTime("CreatedAt", got.CreatedAt, a.CreatedAt))
			list, err := f.feed().Receivers(f.ctx)
			if err != nil {
				f.t.Fatalf("Receivers: %v", err)
			}
			var names []string
			for _, r := range list {
				names = append(names, r.Name)
			}
			want := []string{a.Name, b.Name}
			slices.Sort(want)
			f.sameIDs("receiver names", names, want)
		},
	},
	{
		name: "Receiver/Conflicts",
		what: "a receiver whose name or credential hash is taken is ErrConflict",
		run: func(f *fixture) {
			a := f.receiver()
			other := sha256.Sum256([]byte("other"))
			err := f.feed().CreateReceiver(f.ctx, store.Receiver{ID: newID(), Name: a.Name, Audience: "x", CredentialHash: other[:], CreatedAt: base})
			f.wantErr("CreateReceiver with a taken name", err, store.ErrConflict)
			err = f.feed().CreateReceiver(f.ctx, store.Receiver{ID: newID(), Name: "fresh", Audience: "x", CredentialHash: a.CredentialHash, CreatedAt: base})
			f.wantErr("CreateReceiver with a taken credential", err, store.ErrConflict)
		},
	},
	{
		name: "Receiver/UnknownCredential",
		what: "ReceiverByCredential of a hash no receiver has is ErrNotFound",
		run: func(f *fixture) {
			f.receiver()
			h := sha256.Sum256([]byte("nobody"))
			_, err := f.feed().ReceiverByCredential(f.ctx, h[:])
			f.wantErr("ReceiverByCredential", err, store.ErrNotFound)
		},
	},
	{
		name: "Receiver/Delete",
		what: "deleting a receiver deletes its streams and their own events, leaves other receivers' alone, and a second delete is ErrNotFound",
		run: func(f *fixture) {
			a, b := f.receiver(), f.receiver()
			sa, sb := f.stream(a.ID), f.stream(b.ID)
			f.verification(sa.ID, "a", at(time.Minute))
			vb := f.verification(sb.ID, "b", at(time.Minute))
			if err := f.feed().DeleteReceiver(f.ctx, a.ID); err != nil {
				f.t.Fatalf("DeleteReceiver: %v", err)
			}
			_, err := f.feed().Stream(f.ctx, sa.ID)
			f.wantErr("Stream of a deleted receiver", err, store.ErrNotFound)
			_, err = f.feed().ReceiverByCredential(f.ctx, a.CredentialHash)
			f.wantErr("ReceiverByCredential of a deleted receiver", err, store.ErrNotFound)
			f.sameIDs("the other receiver's events", eventIDs(f.events(sb.ID)), []string{vb.ID})
			f.wantErr("second DeleteReceiver", f.feed().DeleteReceiver(f.ctx, a.ID), store.ErrNotFound)
		},
	},
}

var streamCases = []testCase{
	{
		name: "Stream/RoundTrip",
		what: "a stream reads back exactly as created, and Streams lists a receiver's streams oldest first (all receivers' with \"\")",
		run: func(f *fixture) {
			r, other := f.receiver(), f.receiver()
			push := f.stream(r.ID, func(s *store.Stream) {
				s.Push, s.EndpointURL, s.Authorization = true, "https://api.example/ssf", "Bearer abc"
				s.Requested = []string{"urn:example:unknown", "https://schemas.openid.net/secevent/caep/event-type/credential-change"}
				s.Delivered = []store.EventKind{store.EventCredentialChange}
				s.Description, s.Status, s.StatusReason = "push one", store.StreamPaused, "maintenance"
			})
			poll := f.stream(r.ID, func(s *store.Stream) { s.CreatedAt = at(time.Second) })
			theirs := f.stream(other.ID, func(s *store.Stream) { s.CreatedAt = at(2 * time.Second) })
			f.sameStream("push stream", push, store.Stream{ID: push.ID, ReceiverID: r.ID, Push: true,
				EndpointURL: "https://api.example/ssf", Authorization: "Bearer abc",
				Requested: []string{"urn:example:unknown", "https://schemas.openid.net/secevent/caep/event-type/credential-change"},
				Delivered: []store.EventKind{store.EventCredentialChange}, Description: "push one",
				Status: store.StreamPaused, StatusReason: "maintenance", CreatedAt: base, UpdatedAt: base})
			list, err := f.feed().Streams(f.ctx, r.ID)
			if err != nil {
				f.t.Fatalf("Streams: %v", err)
			}
			f.sameIDs("the receiver's streams", streamIDs(list), []string{push.ID, poll.ID})
			all, err := f.feed().Streams(f.ctx, "")
			if err != nil {
				f.t.Fatalf("Streams(\"\"): %v", err)
			}
			f.sameIDs("every stream", streamIDs(all), []string{push.ID, poll.ID, theirs.ID})
		},
	},
	{
		name: "Stream/CreateErrors",
		what: "a stream of an unknown receiver is ErrNotFound and a taken stream id is ErrConflict",
		run: func(f *fixture) {
			r := f.receiver()
			s := f.stream(r.ID)
			err := f.feed().CreateStream(f.ctx, store.Stream{ID: newID(), ReceiverID: newID(), Status: store.StreamEnabled, CreatedAt: base, UpdatedAt: base}, time.Time{})
			f.wantErr("CreateStream of an unknown receiver", err, store.ErrNotFound)
			s.ReceiverID = r.ID
			err = f.feed().CreateStream(f.ctx, s, time.Time{})
			f.wantErr("CreateStream with a taken id", err, store.ErrConflict)
			if _, err := f.feed().Stream(f.ctx, newID()); !errors.Is(err, store.ErrNotFound) {
				f.t.Errorf("Stream(unknown): %v, want ErrNotFound", err)
			}
		},
	},
	{
		name: "Stream/Update",
		what: "UpdateStream writes the configuration and status but never the receiver or creation time, and an unknown stream is ErrNotFound",
		run: func(f *fixture) {
			r := f.receiver()
			s := f.stream(r.ID)
			want := s
			want.Push, want.EndpointURL, want.Authorization = true, "https://api.example/events", "Bearer t"
			want.Requested, want.Delivered = []string{"a", "b"}, []store.EventKind{store.EventCredentialChange, store.EventSessionRevoked}
			want.Description, want.Status, want.StatusReason, want.UpdatedAt = "changed", store.StreamPaused, "why", at(time.Hour)
			upd := want
			upd.ReceiverID, upd.CreatedAt = f.receiver().ID, at(time.Hour)
			if err := f.feed().UpdateStream(f.ctx, upd); err != nil {
				f.t.Fatalf("UpdateStream: %v", err)
			}
			f.sameStream("updated stream", f.getStream(s.ID), want)
			upd.ID = newID()
			f.wantErr("UpdateStream of an unknown stream", f.feed().UpdateStream(f.ctx, upd), store.ErrNotFound)
		},
	},
	{
		name: "Stream/Delete",
		what: "DeleteStream deletes the stream and its own events only, and a second delete is ErrNotFound",
		run: func(f *fixture) {
			r := f.receiver()
			a, b := f.stream(r.ID), f.stream(r.ID)
			f.verification(a.ID, "x", base)
			vb := f.verification(b.ID, "y", base)
			if err := f.feed().DeleteStream(f.ctx, a.ID); err != nil {
				f.t.Fatalf("DeleteStream: %v", err)
			}
			_, err := f.feed().Stream(f.ctx, a.ID)
			f.wantErr("Stream after DeleteStream", err, store.ErrNotFound)
			f.sameIDs("the other stream's events", eventIDs(f.events(b.ID)), []string{vb.ID})
			f.wantErr("second DeleteStream", f.feed().DeleteStream(f.ctx, a.ID), store.ErrNotFound)
		},
	},
}

func streamIDs(l []store.Stream) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = s.ID
	}
	return out
}

var deliveryCases = []testCase{
	{
		name: "Feed/StreamEventsInOrder",
		what: "a stream gets its own events (not another stream's), in increasing seq, limited, with every field as recorded",
		run: func(f *fixture) {
			r := f.receiver()
			a, b := f.stream(r.ID), f.stream(r.ID)
			e1 := f.verification(a.ID, "one", at(time.Second))
			f.verification(b.ID, "other", at(2*time.Second))
			e2 := f.verification(a.ID, "two", at(3*time.Second))
			e3 := store.Event{ID: newID(), Kind: store.EventSessionRevoked, StreamID: a.ID, SessionID: newID(), UserID: newID(),
				Reason: "signed_out", Txn: newID(), At: at(4 * time.Second)}
			if err := f.feed().AddStreamEvent(f.ctx, e3); err != nil {
				f.t.Fatal(err)
			}
			got := f.events(a.ID)
			f.sameIDs("stream events", eventIDs(got), []string{e1.ID, e2.ID, e3.ID})
			f.ascending("stream events", got)
			if len(got) == 3 {
				g := got[0]
				f.report("first event", slices.Concat(field("Kind", g.Kind, store.EventVerification), field("StreamID", g.StreamID, a.ID),
					field("State", g.State, "one"), field("Txn", g.Txn, e1.Txn), sameTime("At", g.At, e1.At)))
				g = got[2]
				f.report("third event", slices.Concat(field("Kind", g.Kind, e3.Kind), field("SessionID", g.SessionID, e3.SessionID),
					field("UserID", g.UserID, e3.UserID), field("Reason", g.Reason, e3.Reason), field("Txn", g.Txn, e3.Txn),
					sameTime("At", g.At, e3.At)))
			}
			two, err := f.feed().StreamEvents(f.ctx, a.ID, 2)
			if err != nil {
				f.t.Fatal(err)
			}
			f.sameIDs("two stream events", eventIDs(two), []string{e1.ID, e2.ID})
		},
	},
	{
		name: "Feed/UnknownStream",
		what: "AddStreamEvent, StreamEvents and AckEvents of an unknown stream are ErrNotFound (and record nothing)",
		run: func(f *fixture) {
			id := newID()
			err := f.feed().AddStreamEvent(f.ctx, store.Event{ID: newID(), Kind: store.EventVerification, StreamID: id, At: base})
			f.wantErr("AddStreamEvent", err, store.ErrNotFound)
			_, err = f.feed().StreamEvents(f.ctx, id, 10)
			f.wantErr("StreamEvents", err, store.ErrNotFound)
			f.wantErr("AckEvents", f.feed().AckEvents(f.ctx, id, []string{"x"}), store.ErrNotFound)
			if h, err := f.feed().FeedHead(f.ctx); err != nil || h != 0 {
				f.t.Errorf("FeedHead = %d, %v; want 0 (nothing recorded)", h, err)
			}
		},
	},
	{
		name: "Feed/AckMovesOverThePrefix",
		what: "acknowledging moves the cursor over the acknowledged prefix only: an acknowledgement past the first gap is forgotten and that event comes again; unknown ids are ignored",
		run: func(f *fixture) {
			r := f.receiver()
			s := f.stream(r.ID)
			e1, e2, e3 := f.verification(s.ID, "1", base), f.verification(s.ID, "2", base), f.verification(s.ID, "3", base)
			f.ack(s.ID, e1.ID, e3.ID, "unknown-id")
			f.sameIDs("after acknowledging 1 and 3", eventIDs(f.events(s.ID)), []string{e2.ID, e3.ID})
			f.ack(s.ID, e2.ID)
			f.sameIDs("after acknowledging 2", eventIDs(f.events(s.ID)), []string{e3.ID})
			f.ack(s.ID, e3.ID)
			f.sameIDs("after acknowledging 3", eventIDs(f.events(s.ID)), nil)
			f.ack(s.ID, e1.ID, e2.ID) // acknowledged twice: no change, no error
			if got, h := f.getStream(s.ID).Cursor, head(f); got != h {
				f.t.Errorf("cursor %d after everything was acknowledged, want the head %d", got, h)
			}
		},
	},
	{
		name: "Feed/AckPassesOverOthersEvents",
		what: "another stream's events never hold a stream's cursor back",
		run: func(f *fixture) {
			r := f.receiver()
			a, b := f.stream(r.ID), f.stream(r.ID)
			ea := f.verification(a.ID, "a1", base)
			f.verification(b.ID, "b1", base)
			f.verification(b.ID, "b2", base)
			ea2 := f.verification(a.ID, "a2", base)
			f.ack(a.ID, ea.ID, ea2.ID)
			f.sameIDs("a's events after acknowledging both", eventIDs(f.events(a.ID)), nil)
			if c, h := f.getStream(a.ID).Cursor, head(f); c != h {
				f.t.Errorf("a's cursor %d, want the head %d", c, h)
			}
		},
	},
	{
		name: "Feed/Head",
		what: "FeedHead is the newest event's seq",
		run: func(f *fixture) {
			s := f.stream(f.receiver().ID)
			f.verification(s.ID, "", base)
			f.verification(s.ID, "", base)
			es := f.events(s.ID)
			if h := head(f); len(es) != 2 || h != es[1].Seq {
				f.t.Errorf("FeedHead = %d, want the second event's seq (events %v)", h, es)
			}
		},
	},
	{
		name: "Feed/DisabledHoldsNothing",
		what: "a paused stream keeps its events for later, a disabled one does not: once enabled again it starts at the newest event",
		run: func(f *fixture) {
			r := f.receiver()
			paused := f.stream(r.ID, func(s *store.Stream) { s.Status = store.StreamPaused })
			disabled := f.stream(r.ID, func(s *store.Stream) { s.Status = store.StreamDisabled })
			ep := f.verification(paused.ID, "p", base)
			f.verification(disabled.ID, "d", base)
			for _, s := range []store.Stream{paused, disabled} {
				s.Status, s.UpdatedAt = store.StreamEnabled, at(time.Minute)
				if err := f.feed().UpdateStream(f.ctx, s); err != nil {
					f.t.Fatal(err)
				}
			}
			f.sameIDs("the formerly paused stream's events", eventIDs(f.events(paused.ID)), []string{ep.ID})
			f.sameIDs("the formerly disabled stream's events", eventIDs(f.events(disabled.ID)), nil)
			later := f.verification(disabled.ID, "after", at(time.Hour))
			f.sameIDs("events after it was enabled", eventIDs(f.events(disabled.ID)), []string{later.ID})
		},
	},
	{
		name: "Feed/Purge",
		what: "PurgeFeed deletes the events that happened strictly before the cutoff, and the streams (with their own events) last seen strictly before theirs, and returns how many",
		run: func(f *fixture) {
			r := f.receiver()
			s := f.stream(r.ID, func(s *store.Stream) { s.CreatedAt = at(-48 * time.Hour) })
			gone := f.stream(r.ID, func(s *store.Stream) { s.CreatedAt = at(-48 * time.Hour) })
			seenAtCut := f.stream(r.ID, func(s *store.Stream) { s.CreatedAt = at(-48 * time.Hour) })
			if err := f.feed().TouchStream(f.ctx, s.ID, at(-time.Hour)); err != nil {
				f.t.Fatalf("TouchStream: %v", err)
			}
			if err := f.feed().TouchStream(f.ctx, s.ID, at(-2*time.Hour)); err != nil { // never moves back
				f.t.Fatalf("TouchStream: %v", err)
			}
			if err := f.feed().TouchStream(f.ctx, seenAtCut.ID, at(-24*time.Hour)); err != nil {
				f.t.Fatalf("TouchStream: %v", err)
			}
			f.wantErr("TouchStream of an unknown stream", f.feed().TouchStream(f.ctx, newID(), base), store.ErrNotFound)
			if got := f.getStream(s.ID).SeenAt; !got.Equal(at(-time.Hour)) {
				f.t.Errorf("SeenAt = %s, want %s", got, at(-time.Hour))
			}
			f.verification(s.ID, "old", at(-time.Hour))
			f.verification(s.ID, "older", at(-2*time.Hour))
			f.verification(gone.ID, "of a stream that goes", base)
			keep := f.verification(s.ID, "cut", base)
			events, streams, err := f.feed().PurgeFeed(f.ctx, base, at(-24*time.Hour))
			if err != nil || events != 2 || streams != 1 {
				f.t.Errorf("PurgeFeed = %d events, %d streams, %v; want 2 and 1 (the verification of the purged stream goes with it, uncounted)", events, streams, err)
			}
			f.sameIDs("events after the purge", eventIDs(f.events(s.ID)), []string{keep.ID})
			if _, err := f.feed().Stream(f.ctx, gone.ID); !errors.Is(err, store.ErrNotFound) {
				f.t.Errorf("a stream unseen since before the cutoff is still there: %v", err)
			}
			f.getStream(seenAtCut.ID) // seen exactly at the cutoff: kept
			if events, streams, err := f.feed().PurgeFeed(f.ctx, base, time.Time{}); err != nil || events != 0 || streams != 0 {
				f.t.Errorf("second PurgeFeed = %d, %d, %v; want nothing", events, streams, err)
			}
		},
	},
}

var leaseCases = []testCase{
	{
		name: "Lease/OneHolder",
		what: "a lease is held by one owner until it expires or is released, renewing keeps it, and the stream shows who holds it",
		run: func(f *fixture) {
			s := f.stream(f.receiver().ID)
			lease := func(owner string, now time.Time, ttl time.Duration, want bool) {
				f.t.Helper()
				got, err := f.feed().LeaseStream(f.ctx, s.ID, owner, now, ttl)
				if err != nil || got != want {
					f.t.Errorf("LeaseStream(%s, %s, %s) = %v, %v; want %v", owner, now.Sub(base), ttl, got, err, want)
				}
			}
			lease("a", base, 10*time.Second, true)
			lease("b", at(time.Second), 10*time.Second, false)
			lease("a", at(5*time.Second), 10*time.Second, true) // renewed until 15s
			lease("b", at(12*time.Second), 10*time.Second, false)
			if got := f.getStream(s.ID); got.LeaseOwner != "a" || !got.LeaseUntil.Equal(at(15*time.Second)) {
				f.t.Errorf("stream lease = %s until %s, want a until %s", got.LeaseOwner, got.LeaseUntil, at(15*time.Second))
			}
			lease("b", at(15*time.Second), 10*time.Second, true) // expired: taken over
			lease("a", at(16*time.Second), 10*time.Second, false)
			lease("b", at(17*time.Second), 0, false) // released
			lease("a", at(17*time.Second), 10*time.Second, true)
			lease("c", at(17*time.Second), 0, false) // releasing another's lease changes nothing
			lease("b", at(18*time.Second), 10*time.Second, false)
			held, err := f.feed().LeaseStream(f.ctx, newID(), "a", base, time.Second)
			if err != nil || held {
				f.t.Errorf("LeaseStream(unknown stream) = %v, %v; want false, nil", held, err)
			}
		},
	},
	{
		name: "Lease/Concurrent",
		what: "of many owners asking for a free lease at once, exactly one gets it",
		run: func(f *fixture) {
			s := f.stream(f.receiver().ID)
			const n = 8
			var wg sync.WaitGroup
			held := make([]bool, n)
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					held[i], errs[i] = f.feed().LeaseStream(f.ctx, s.ID, string(rune('a'+i)), base, time.Minute)
				}()
			}
			wg.Wait()
			count := 0
			for i := range n {
				if errs[i] != nil {
					f.t.Errorf("LeaseStream #%d: %v", i, errs[i])
				}
				if held[i] {
					count++
				}
			}
			if count != 1 {
				f.t.Errorf("%d owners hold the lease, want 1", count)
			}
		},
	},
}

// head returns the feed's newest seq.
func head(f *fixture) int64 {
	f.t.Helper()
	h, err := f.feed().FeedHead(f.ctx)
	if err != nil {
		f.t.Fatalf("FeedHead: %v", err)
	}
	return h
}
