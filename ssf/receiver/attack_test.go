package receiver_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-dev/latchkey/ssf/receiver"
	"github.com/latchkey-dev/latchkey/store"
)

// A SET is a JWT, so it comes in the JWS Compact Serialization (RFC 7519
// §1, RFC 8417 §2): the receiver refuses the JSON serialization, whose
// unprotected header is outside the signature. There, a typ secevent+jwt
// could dress up anything else the transmitter's key signed without one as
// a SET.
func TestSETInJSONSerialization(t *testing.T) {
	x := newTransmitter(t)
	api := httptest.NewServer(http.NotFoundHandler()) // only its URL is used
	defer api.Close()
	r, err := receiver.Start(context.Background(), receiver.Options{Issuer: x.url, Credential: x.cred, Name: "test",
		PushURL: api.URL + "/events"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	auth := x.streams()[0].Authorization
	payload, _ := json.Marshal(map[string]any{"iss": x.url, "aud": "https://api.example", "jti": randomID(), "iat": time.Now().Unix(),
		"sub_id": map[string]any{"format": "complex", "session": map[string]any{"format": "opaque", "id": "s-dressed"}},
		"events": map[string]any{"https://schemas.openid.net/secevent/caep/event-type/session-revoked": map[string]any{
			"max_token_exp": time.Now().Add(time.Hour).Unix()}}})
	// Signed by the transmitter's key, with no typ in the protected header.
	priv, err := x509.ParsePKCS8PrivateKey(x.key.Private)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, (&jose.SignerOptions{}).WithHeader("kid", x.key.KID))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	compact, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(compact, ".")
	dressed, _ := json.Marshal(map[string]any{"protected": parts[0], "payload": parts[1], "signature": parts[2],
		"header": map[string]string{"typ": "secevent+jwt"}})
	// The same SET as the transmitter signs it, in the JSON serialization.
	set, err := x.iss.SignSET(payload)
	if err != nil {
		t.Fatal(err)
	}
	sp := strings.Split(set, ".")
	general, _ := json.Marshal(map[string]any{"payload": sp[1], "signatures": []map[string]string{{"protected": sp[0], "signature": sp[2]}}})
	for name, body := range map[string]string{"typ in the unprotected header": string(dressed), "a SET in the general JSON serialization": string(general)} {
		req := httptest.NewRequest("POST", "/events", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/secevent+jwt")
		req.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		r.Handler().ServeHTTP(w, req)
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s; want 400", name, w.Code, w.Body)
		}
	}
	if r.Revoked("s-dressed") {
		t.Error("a SET in the JSON serialization was applied")
	}
}

// A receiver that refuses many SETs at once (here 600 session-revoked
// events without a session, as a transmitter with a bug might send)
// reports them in its next poll's setErrs. That poll must still fit the
// transmitter's 64 KiB body limit, or every later poll is refused with 413
// and the receiver never learns of another revocation until restarted.
func TestManyRefusedSETsDoNotWedgeThePoller(t *testing.T) {
	x := newTransmitter(t)
	r := start(t, x)
	st := x.streams()[0]
	setStatus := func(status store.StreamStatus) {
		st.Status = status
		if err := x.db.UpdateStream(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(store.StreamPaused) // held, so that the 600 arrive in one poll
	for range 600 {
		err := x.db.AddStreamEvent(context.Background(), store.Event{ID: randomID(), Kind: store.EventSessionRevoked,
			StreamID: st.ID, UserID: randomID(), Reason: "signed_out", Txn: randomID(), At: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
	}
	sid := x.revoke(time.Now())
	setStatus(store.StreamEnabled)
	eventually(t, "the revocation behind the refused SETs is known", func() bool { return r.Revoked(sid) })
}

// Ready means the history is applied: when it closes, every revocation the
// new stream started with is enforced. The verification SET that marks it
// comes in the same poll as the last of the history, and a poll's SETs come
// as a JSON object, in no order; the receiver must not declare itself
// ready before it has applied the rest of that poll.
func TestReadyMeansTheHistoryIsApplied(t *testing.T) {
	x := newTransmitter(t)
	// 90 revocations before the receiver starts: its new stream replays
	// them, with the verification behind them.
	ctx := context.Background()
	now := time.Now()
	u := store.User{ID: randomID(), Email: "u@example.com", PasswordHash: "x", Status: store.UserActive, CreatedAt: now, UpdatedAt: now}
	if err := x.db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	var sids []string
	for range 90 {
		sid := randomID()
		s := store.Session{ID: sid, UserID: u.ID, CreatedAt: now, LastRefreshedAt: now, RefreshExpiresAt: now.Add(time.Hour),
			AbsoluteExpiresAt: now.Add(time.Hour)}
		if _, err := x.db.CreateSession(ctx, s, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := x.db.RevokeSessions(ctx, store.RevokeParams{SessionID: sid, Reason: "signed_out", Now: now}); err != nil {
			t.Fatal(err)
		}
		sids = append(sids, sid)
	}
	for round := range 5 {
		r, err := receiver.Start(context.Background(), receiver.Options{Issuer: x.url, Credential: x.cred,
			Name: fmt.Sprint("api-", round), PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-r.Ready():
		case <-time.After(10 * time.Second):
			t.Fatal("not ready within 10s")
		}
		missing := 0
		for _, sid := range sids {
			if !r.Revoked(sid) {
				missing++
			}
		}
		r.Close()
		if missing > 0 {
			t.Fatalf("ready with %d of the %d revocations of its history not applied yet", missing, len(sids))
		}
	}
}
