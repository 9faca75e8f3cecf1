package receiver_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/ssf"
	"github.com/latchkey-dev/latchkey/ssf/receiver"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/sqlite"
	"github.com/latchkey-dev/latchkey/token"
)

// transmitter is a real Latchkey transmitter over a real SQLite file,
// served by a real HTTP server that the test can make fail (down).
type transmitter struct {
	t    *testing.T
	db   *sqlite.DB
	iss  *token.Issuer
	key  store.SigningKey // the key iss signs with
	url  string
	cred string
	down atomic.Bool  // every request answers 503
	shed atomic.Int64 // requests answered 503
}

func newTransmitter(t *testing.T) *transmitter {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	iss, err := token.NewIssuer(token.Options{Issuer: url, Audience: "latchkey", RefreshSecret: bytes.Repeat([]byte("r"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	k, err := token.GenerateKey(token.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.SetKeys([]store.SigningKey{k}); err != nil {
		t.Fatal(err)
	}
	tr, err := ssf.New(ssf.Options{Feed: db, Tokens: iss, Issuer: url, AccessTTL: 15 * time.Minute, Leeway: 5 * time.Second,
		WatchInterval: 10 * time.Millisecond, PushBackoff: 10 * time.Millisecond, PushBackoffMax: 50 * time.Millisecond,
		PushLease: 2 * time.Second, AllowLoopback: true, ServeJWKS: true})
	if err != nil {
		t.Fatal(err)
	}
	x := &transmitter{t: t, db: db, iss: iss, key: k, url: url}
	mux := http.NewServeMux()
	tr.Register(mux)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if x.down.Load() {
			x.shed.Add(1)
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	})
	srv.Start()
	t.Cleanup(srv.Close)
	tr.Start()
	t.Cleanup(tr.Close)
	_, x.cred, err = ssf.CreateReceiver(ctx, db, "api", "https://api.example", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// streams returns the receiver's streams.
func (x *transmitter) streams() []store.Stream {
	x.t.Helper()
	ss, err := x.db.Streams(context.Background(), "")
	if err != nil {
		x.t.Fatal(err)
	}
	return ss
}

// revoke records the revocation of a new session for the (one) stream and
// returns the session id.
func (x *transmitter) revoke(at time.Time) string {
	x.t.Helper()
	ss := x.streams()
	if len(ss) != 1 {
		x.t.Fatalf("%d streams, want 1", len(ss))
	}
	sid := randomID()
	err := x.db.AddStreamEvent(context.Background(), store.Event{ID: randomID(), Kind: store.EventSessionRevoked,
		StreamID: ss[0].ID, SessionID: sid, UserID: randomID(), Reason: "signed_out", Txn: randomID(), At: at})
	if err != nil {
		x.t.Fatal(err)
	}
	return sid
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// start starts a receiver and waits until it is ready.
func start(t *testing.T, x *transmitter, mods ...func(*receiver.Options)) *receiver.Receiver {
	t.Helper()
	o := receiver.Options{Issuer: x.url, Credential: x.cred, Name: "test", PollInterval: 20 * time.Millisecond}
	for _, m := range mods {
		m(&o)
	}
	r, err := receiver.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	select {
	case <-r.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver was not ready within 10s")
	}
	return r
}

// eventually waits (at most 10s) until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A polling receiver learns of a revocation, keeps it, and acknowledges it.
func TestPollReceiver(t *testing.T) {
	x := newTransmitter(t)
	r := start(t, x)
	if r.Revoked("nobody") {
		t.Fatal("an unknown session is revoked")
	}
	sid := x.revoke(time.Now())
	eventually(t, "the revocation is known", func() bool { return r.Revoked(sid) })
	eventually(t, "the revocation is acknowledged", func() bool {
		es, err := x.db.StreamEvents(context.Background(), x.streams()[0].ID, 10)
		return err == nil && len(es) == 0
	})
	if r.Len() != 1 {
		t.Errorf("Len = %d, want 1", r.Len())
	}
	// A revocation whose every token has expired is not kept.
	old := x.revoke(time.Now().Add(-time.Hour))
	sid2 := x.revoke(time.Now())
	eventually(t, "the next revocation is known", func() bool { return r.Revoked(sid2) })
	if r.Revoked(old) {
		t.Error("a session whose tokens all expired an age ago is kept")
	}
}

// A receiver that pushes is sent the revocation at its handler.
func TestPushReceiver(t *testing.T) {
	x := newTransmitter(t)
	var h atomic.Pointer[http.Handler]
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if p := h.Load(); p != nil {
			(*p).ServeHTTP(w, req)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	defer api.Close()
	r, err := receiver.Start(context.Background(), receiver.Options{Issuer: x.url, Credential: x.cred, Name: "test",
		PushURL: api.URL + "/ssf/events"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	handler := r.Handler()
	h.Store(&handler)
	select {
	case <-r.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the push receiver was not ready within 10s")
	}
	sid := x.revoke(time.Now())
	eventually(t, "the pushed revocation is known", func() bool { return r.Revoked(sid) })
	if ss := x.streams(); len(ss) != 1 || !ss[0].Push || ss[0].EndpointURL != api.URL+"/ssf/events" {
		t.Errorf("streams = %+v, want one push stream to the API", ss)
	}
}

// Starting again under the same name replaces the stream; Close deletes it.
func TestRestartReplacesStream(t *testing.T) {
	x := newTransmitter(t)
	r1 := start(t, x)
	first := x.streams()
	r1.Close()
	if ss := x.streams(); len(ss) != 0 {
		t.Errorf("%d streams after Close, want 0", len(ss))
	}
	// A receiver that died without Close leaves its stream; the next start
	// under its name replaces it.
	r2, err := receiver.Start(context.Background(), receiver.Options{Issuer: x.url, Credential: x.cred, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	_ = r2 // not closed: as if killed
	r3 := start(t, x)
	_ = r3
	ss := x.streams()
	if len(ss) != 1 || ss[0].ID == first[0].ID {
		t.Errorf("streams after a restart: %+v; want one new stream", ss)
	}
}

// When the transmitter cannot be reached, the receiver keeps its set and
// catches up when it returns.
func TestOutage(t *testing.T) {
	x := newTransmitter(t)
	r := start(t, x)
	before := x.revoke(time.Now())
	eventually(t, "the first revocation is known", func() bool { return r.Revoked(before) })
	x.down.Store(true)
	during := x.revoke(time.Now())
	eventually(t, "polls fail", func() bool { return x.shed.Load() >= 3 })
	if !r.Revoked(before) {
		t.Error("the outage made the receiver forget a revocation")
	}
	x.down.Store(false)
	eventually(t, "the revocation made during the outage is known", func() bool { return r.Revoked(during) })
}

// A wrong credential or issuer is an error at Start.
func TestStartRefusals(t *testing.T) {
	x := newTransmitter(t)
	if _, err := receiver.Start(context.Background(), receiver.Options{Issuer: x.url, Credential: "lkr_wrong"}); err == nil {
		t.Error("Start with a wrong credential succeeded")
	}
	if _, err := receiver.Start(context.Background(), receiver.Options{Issuer: x.url + "/other", Credential: x.cred}); err == nil {
		t.Error("Start with the wrong issuer succeeded")
	}
	if _, err := receiver.Start(context.Background(), receiver.Options{Credential: x.cred}); err == nil {
		t.Error("Start without an issuer succeeded")
	}
}

// A stream the transmitter no longer has (an operator deleted it, or the
// inactivity purge did) is replaced: the receiver's next poll gets 404, it
// makes a new stream, and revocations reach it again.
func TestStreamGone(t *testing.T) {
	x := newTransmitter(t)
	r := start(t, x)
	old := x.streams()[0]
	if err := x.db.DeleteStream(context.Background(), old.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a new stream", func() bool { ss := x.streams(); return len(ss) == 1 && ss[0].ID != old.ID })
	sid := x.revoke(time.Now())
	eventually(t, "the revocation on the new stream is known", func() bool { return r.Revoked(sid) })
}
