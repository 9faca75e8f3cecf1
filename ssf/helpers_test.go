package ssf_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/ssf"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/sqlite"
	"github.com/latchkey-dev/latchkey/token"
)

// env is a transmitter over a real SQLite file, served by a real HTTP
// server, with one registered receiver.
type env struct {
	t    *testing.T
	db   *sqlite.DB
	tr   *ssf.Transmitter
	iss  *token.Issuer
	url  string
	cred string // the receiver's credential
	rcv  store.Receiver
}

// newEnv starts a transmitter with quick timings (tests wait for real
// events, never for time to pass) and registers the receiver "api".
func newEnv(t *testing.T, mods ...func(*ssf.Options)) *env {
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
	iss := newIssuer(t, url)
	o := ssf.Options{Feed: db, Tokens: iss, Issuer: url, AccessTTL: 15 * time.Minute, Leeway: 5 * time.Second,
		LongPoll: 2 * time.Second, WatchInterval: 10 * time.Millisecond, PushBackoff: 10 * time.Millisecond,
		PushBackoffMax: 50 * time.Millisecond, PushLease: 2 * time.Second, AllowLoopback: true, ServeJWKS: true}
	for _, m := range mods {
		m(&o)
	}
	tr, err := ssf.New(o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	tr.Register(mux)
	srv.Config.Handler = httpapi.LimitBody(httpapi.MaxBodyBytes)(mux)
	srv.Start()
	t.Cleanup(srv.Close)
	tr.Start()
	t.Cleanup(tr.Close)
	e := &env{t: t, db: db, tr: tr, iss: iss, url: url}
	e.rcv, e.cred = e.receiver("api")
	return e
}

// newIssuer returns an access-token issuer with one ES256 key.
func newIssuer(t *testing.T, url string) *token.Issuer {
	t.Helper()
	iss, err := token.NewIssuer(token.Options{Issuer: url, Audience: "latchkey",
		RefreshSecret: bytes.Repeat([]byte("r"), 32), Leeway: 5 * time.Second})
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
	return iss
}

// receiver registers another receiver.
func (e *env) receiver(name string) (store.Receiver, string) {
	e.t.Helper()
	r, cred, err := ssf.CreateReceiver(context.Background(), e.db, name, "https://"+name+".example", time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return r, cred
}

// do sends a request with the credential (none when "") and a JSON body
// (none when nil; a string is sent as it is) and returns the status and body.
func (e *env) do(method, path, cred string, body any) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.url+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// want fails unless the request answers status, and decodes the body into
// out (when not nil).
func (e *env) want(status int, method, path, cred string, body, out any) {
	e.t.Helper()
	got, b := e.do(method, path, cred, body)
	if got != status {
		e.t.Fatalf("%s %s = %d %s; want %d", method, path, got, b, status)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// config is a stream configuration as a receiver reads it.
type config struct {
	StreamID string `json:"stream_id"`
	Iss      string `json:"iss"`
	Aud      string `json:"aud"`
	Delivery struct {
		Method              string `json:"method"`
		EndpointURL         string `json:"endpoint_url"`
		AuthorizationHeader string `json:"authorization_header"`
	} `json:"delivery"`
	EventsSupported         []string `json:"events_supported"`
	EventsRequested         []string `json:"events_requested"`
	EventsDelivered         []string `json:"events_delivered"`
	Description             string   `json:"description"`
	MinVerificationInterval int      `json:"min_verification_interval"`
}

// createPoll creates a poll stream for the env's receiver.
func (e *env) createPoll() config {
	e.t.Helper()
	var c config
	e.want(http.StatusCreated, "POST", ssf.PathStream, e.cred, map[string]any{}, &c)
	return c
}

type pollResp struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// poll polls the stream.
func (e *env) poll(c config, body map[string]any) pollResp {
	e.t.Helper()
	var p pollResp
	e.want(http.StatusOK, "POST", strings.TrimPrefix(c.Delivery.EndpointURL, e.url), e.cred, body, &p)
	return p
}

// claims verifies a SET against the transmitter's JWKS, as a receiver
// would with nothing but go-jose, and returns its header typ and claims.
func (e *env) claims(set string) (string, map[string]any) {
	e.t.Helper()
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(e.iss.JWKS(), &jwks); err != nil {
		e.t.Fatal(err)
	}
	jws, err := jose.ParseSigned(set, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		e.t.Fatalf("parse SET: %v", err)
	}
	keys := jwks.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		e.t.Fatalf("no JWKS key for the SET's kid")
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		e.t.Fatalf("verify SET: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		e.t.Fatal(err)
	}
	typ, _ := jws.Signatures[0].Header.ExtraHeaders[jose.HeaderType].(string)
	return typ, c
}

// eventOf returns the one event of a SET's events claim: its type and body.
func eventOf(t *testing.T, c map[string]any) (string, map[string]any) {
	t.Helper()
	events, _ := c["events"].(map[string]any)
	if len(events) != 1 {
		t.Fatalf("events = %v, want exactly one", c["events"])
	}
	for typ, body := range events {
		b, _ := body.(map[string]any)
		return typ, b
	}
	panic("unreachable")
}
