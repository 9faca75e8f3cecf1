package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The independent receiver: written from RFC 8417 (SETs), RFC 8936 (poll
// delivery) and SSF 1.0 (metadata, stream management, subjects) with
// go-jose; it shares no code with package ssf/receiver.

type wire struct {
	t          *testing.T
	issuer     string
	cred       string
	client     *http.Client
	meta       map[string]any
	keysMu     sync.Mutex
	jwks       jose.JSONWebKeySet
	streamID   string
	aud        string
	pollURL    string
	acks       []string
	sessionsOf map[string]string // jti -> revoked session id
}

// wireSET is what the independent receiver checks of a SET.
type wireSET struct {
	Iss    string                     `json:"iss"`
	Aud    json.RawMessage            `json:"aud"`
	Jti    string                     `json:"jti"`
	Iat    *int64                     `json:"iat"`
	Txn    string                     `json:"txn"`
	Sub    *string                    `json:"sub"`
	Exp    *int64                     `json:"exp"`
	SubID  map[string]json.RawMessage `json:"sub_id"`
	Events map[string]map[string]any  `json:"events"`
}

// newWire discovers the transmitter from base (a URL that reaches it) and
// creates a stream with delivery (nil: poll).
func newWire(t *testing.T, base, issuer, cred string, delivery map[string]any) *wire {
	t.Helper()
	w := &wire{t: t, issuer: issuer, cred: cred, client: &http.Client{Timeout: 30 * time.Second}, sessionsOf: map[string]string{}}
	w.meta = w.getJSON(base+"/.well-known/ssf-configuration", false)
	if w.meta["issuer"] != issuer {
		t.Fatalf("SSF metadata issuer %v, want %s", w.meta["issuer"], issuer)
	}
	body := map[string]any{"description": "independent receiver",
		"events_requested": []string{"https://schemas.openid.net/secevent/caep/event-type/session-revoked"}}
	if delivery != nil {
		body["delivery"] = delivery
	}
	var c struct {
		StreamID string `json:"stream_id"`
		Iss      string `json:"iss"`
		Aud      string `json:"aud"`
		Delivery struct {
			EndpointURL string `json:"endpoint_url"`
		} `json:"delivery"`
	}
	w.send("POST", w.rebase(base, w.meta["configuration_endpoint"].(string)), body, http.StatusCreated, &c)
	if c.Iss != issuer || c.StreamID == "" {
		t.Fatalf("created stream %+v", c)
	}
	w.streamID, w.aud, w.pollURL = c.StreamID, c.Aud, c.Delivery.EndpointURL
	return w
}

// rebase points an endpoint URL of the metadata at base instead (the
// instance the test talks to; the metadata names the public issuer).
func (w *wire) rebase(base, endpoint string) string {
	return base + strings.TrimPrefix(endpoint, w.issuer)
}

func (w *wire) getJSON(url string, auth bool) map[string]any {
	w.t.Helper()
	var out map[string]any
	w.send("GET", url, nil, http.StatusOK, &out)
	return out
}

func (w *wire) send(method, url string, body any, want int, out any) {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		w.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+w.cred)
	resp, err := w.client.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		w.t.Fatalf("%s %s = %d %s; want %d", method, url, resp.StatusCode, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			w.t.Fatalf("%s %s: %v", method, url, err)
		}
	}
}

// poll polls the stream through base once (RFC 8936 §2.4), sending the
// acknowledgements of the last poll, and verifies every SET it gets. It
// returns the session ids of the session-revoked events, and whether more
// are available.
func (w *wire) poll(base string, max int) ([]string, bool) {
	w.t.Helper()
	var resp struct {
		Sets          map[string]string `json:"sets"`
		MoreAvailable bool              `json:"moreAvailable"`
	}
	w.send("POST", w.rebase(base, w.pollURL), map[string]any{"ack": w.acks, "maxEvents": max, "returnImmediately": true},
		http.StatusOK, &resp)
	w.acks = w.acks[:0]
	var sids []string
	for jti, set := range resp.Sets {
		c := w.verify(base, set)
		if c.Jti != jti {
			w.t.Fatalf("SET delivered under %q has jti %q", jti, c.Jti)
		}
		if sid, _ := sessionOfSET(c); sid != "" {
			sids = append(sids, sid)
		}
		w.acks = append(w.acks, jti)
	}
	return sids, resp.MoreAvailable
}

// verify checks a SET (check) and fails the test when it is not valid.
func (w *wire) verify(base, set string) wireSET {
	w.t.Helper()
	c, err := w.check(base, set)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// check checks a SET: a compact JWS whose protected header says typ
// secevent+jwt (RFC 8417 §2.3), signed by a key of the transmitter's
// jwks_uri with an asymmetric algorithm; claims iss, aud, jti and iat
// (RFC 8417 §2.2), one event, no sub and no exp (SSF 1.0 §4.1); and for a
// session-revoked event, its subject (sessionOfSET). It may run on any
// goroutine.
func (w *wire) check(base, set string) (wireSET, error) {
	jws, err := jose.ParseSigned(set, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		return wireSET{}, fmt.Errorf("SET is not a JWS: %w", err)
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "secevent+jwt" {
		return wireSET{}, fmt.Errorf("SET typ %q", typ)
	}
	w.keysMu.Lock()
	keys := w.jwks.Key(h.KeyID)
	if len(keys) == 0 {
		var set jose.JSONWebKeySet
		if err := fetchJSON(w.client, w.rebase(base, w.meta["jwks_uri"].(string)), &set); err != nil {
			w.keysMu.Unlock()
			return wireSET{}, err
		}
		w.jwks = set
		keys = w.jwks.Key(h.KeyID)
	}
	w.keysMu.Unlock()
	if len(keys) != 1 {
		return wireSET{}, fmt.Errorf("no JWKS key for kid %q", h.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		return wireSET{}, fmt.Errorf("SET signature: %w", err)
	}
	var c wireSET
	if err := json.Unmarshal(payload, &c); err != nil {
		return wireSET{}, err
	}
	var aud string
	if err := json.Unmarshal(c.Aud, &aud); err != nil || aud != w.aud {
		return wireSET{}, fmt.Errorf("SET aud %s, want %q", c.Aud, w.aud)
	}
	if c.Iss != w.issuer || c.Jti == "" || c.Iat == nil || len(c.Events) != 1 || c.Sub != nil || c.Exp != nil {
		return wireSET{}, fmt.Errorf("SET claims %s", payload)
	}
	if _, err := sessionOfSET(c); err != nil {
		return wireSET{}, err
	}
	return c, nil
}

func fetchJSON(c *http.Client, url string, out any) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// revokedSessionOf returns the session id of a session-revoked SET ("" for
// another event), failing the test on a malformed subject.
func revokedSessionOf(t *testing.T, c wireSET) string {
	t.Helper()
	sid, err := sessionOfSET(c)
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

// sessionOfSET returns the session id of a session-revoked SET ("" for
// another event): the session member of its complex sub_id (SSF 1.0 §3.3,
// RFC 9493 opaque format), whose user member is an iss_sub, with an
// event_timestamp (CAEP 1.0 §2).
func sessionOfSET(c wireSET) (string, error) {
	ev, ok := c.Events["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]
	if !ok {
		return "", nil
	}
	var format string
	json.Unmarshal(c.SubID["format"], &format)
	var session, user map[string]string
	json.Unmarshal(c.SubID["session"], &session)
	json.Unmarshal(c.SubID["user"], &user)
	if format != "complex" || session["format"] != "opaque" || session["id"] == "" || user["format"] != "iss_sub" ||
		user["iss"] != c.Iss || user["sub"] == "" {
		return "", fmt.Errorf("session-revoked sub_id %v", c.SubID)
	}
	if _, ok := ev["event_timestamp"].(float64); !ok {
		return "", fmt.Errorf("session-revoked event without event_timestamp: %v", ev)
	}
	return session["id"], nil
}
