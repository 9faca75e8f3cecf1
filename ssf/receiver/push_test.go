package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/ssf/receiver"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

// The push handler refuses what is not a valid SET for this receiver,
// from this transmitter, with the right authorization: 401 or 400 with the
// RFC 8935 error code, and nothing is applied.
func TestPushHandlerHostile(t *testing.T) {
	x := newTransmitter(t)
	api := httptest.NewServer(http.NotFoundHandler()) // only its URL is used: the test calls the handler itself
	defer api.Close()
	r, err := receiver.Start(context.Background(), receiver.Options{Issuer: x.url, Credential: x.cred, Name: "test",
		PushURL: api.URL + "/events"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ss := x.streams()
	if len(ss) != 1 {
		t.Fatalf("%d streams", len(ss))
	}
	auth, aud := ss[0].Authorization, "https://api.example"
	h := r.Handler()
	claims := func(mod func(c map[string]any)) []byte {
		c := map[string]any{"iss": x.url, "aud": aud, "jti": randomID(), "iat": time.Now().Unix(),
			"sub_id": map[string]any{"format": "complex", "session": map[string]any{"format": "opaque", "id": "s-hostile"}},
			"events": map[string]any{"https://schemas.openid.net/secevent/caep/event-type/session-revoked": map[string]any{
				"max_token_exp": time.Now().Add(time.Hour).Unix()}}}
		if mod != nil {
			mod(c)
		}
		b, _ := json.Marshal(c)
		return b
	}
	sign := func(b []byte) string {
		s, err := x.iss.SignSET(b)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	other, err := token.NewIssuer(token.Options{Issuer: x.url, RefreshSecret: bytes.Repeat([]byte("o"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := token.GenerateKey(token.ES256, time.Now())
	if err := other.SetKeys([]store.SigningKey{k}); err != nil {
		t.Fatal(err)
	}
	foreign, _ := other.SignSET(claims(nil))
	access, _, _ := x.iss.MintAccess(token.AccessClaims{Subject: "u", SessionID: "s-hostile", ExpiresAt: time.Now().Add(time.Hour)})

	for _, tc := range []struct {
		name, auth, contentType, body string
		status                        int
		err                           string
	}{
		{"no authorization", "", "application/secevent+jwt", sign(claims(nil)), 401, "authentication_failed"},
		{"a wrong authorization", "Bearer wrong", "application/secevent+jwt", sign(claims(nil)), 401, "authentication_failed"},
		{"the receiver credential instead", "Bearer " + x.cred, "application/secevent+jwt", sign(claims(nil)), 401, "authentication_failed"},
		{"JSON", auth, "application/json", sign(claims(nil)), 400, "invalid_request"},
		{"garbage", auth, "application/secevent+jwt", "not.a.jwt", 400, "invalid_request"},
		{"an access token", auth, "application/secevent+jwt", access, 400, "invalid_request"},
		{"another issuer", auth, "application/secevent+jwt", sign(claims(func(c map[string]any) { c["iss"] = "https://evil.example" })), 400, "invalid_issuer"},
		{"another audience", auth, "application/secevent+jwt", sign(claims(func(c map[string]any) { c["aud"] = "https://other.example" })), 400, "invalid_audience"},
		{"an exp", auth, "application/secevent+jwt", sign(claims(func(c map[string]any) { c["exp"] = time.Now().Add(time.Hour).Unix() })), 400, "invalid_request"},
		{"a sub", auth, "application/secevent+jwt", sign(claims(func(c map[string]any) { c["sub"] = "u" })), 400, "invalid_request"},
		{"no jti", auth, "application/secevent+jwt", sign(claims(func(c map[string]any) { delete(c, "jti") })), 400, "invalid_request"},
		{"no session", auth, "application/secevent+jwt", sign(claims(func(c map[string]any) { c["sub_id"] = map[string]any{"format": "complex"} })), 400, "invalid_request"},
		{"an unknown key", auth, "application/secevent+jwt", foreign, 400, "invalid_key"},
		{"a tampered payload", auth, "application/secevent+jwt", tamper(sign(claims(nil))), 400, "invalid_key"},
		{"a huge body", auth, "application/secevent+jwt", strings.Repeat("a", 70<<10), 400, "invalid_request"},
	} {
		req := httptest.NewRequest("POST", "/events", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.contentType)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var body map[string]string
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != tc.status || body["err"] != tc.err {
			t.Errorf("%s: %d %s; want %d %s", tc.name, w.Code, w.Body, tc.status, tc.err)
		}
	}
	if r.Revoked("s-hostile") {
		t.Fatal("a refused SET was applied")
	}
	req := httptest.NewRequest("POST", "/events", strings.NewReader(sign(claims(nil))))
	req.Header.Set("Content-Type", "application/secevent+jwt")
	req.Header.Set("Authorization", auth)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusAccepted || !r.Revoked("s-hostile") {
		t.Errorf("a valid SET: %d %s, revoked %v; want 202 and applied", w.Code, w.Body, r.Revoked("s-hostile"))
	}
}

// tamper changes one character of a JWS payload, keeping it decodable.
func tamper(jws string) string {
	parts := strings.Split(jws, ".")
	p := []byte(parts[1])
	i := len(p) / 2
	if p[i] == 'A' {
		p[i] = 'B'
	} else {
		p[i] = 'A'
	}
	return parts[0] + "." + string(p) + "." + parts[2]
}
