package e2e

// The helpers of the Shared Signals tests (ssf_*_test.go): an API process
// (examples/api, the Go receiver behind latchkey's Middleware), a push
// endpoint process (for SIGKILL), and an independent receiver written here
// from RFC 8417, RFC 8936 and SSF 1.0 with go-jose alone.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
	"github.com/latchkey-dev/latchkey/internal/testkit"
)

// ssfEnv are the settings of the tests' latchkey: the shipped timings of
// the transmitter, except quicker retries (a receiver killed on purpose
// comes back within seconds) and fast password hashing is not available in
// the binary, so sign-ins cost a real argon2id each.
func ssfEnv(extra map[string]string) map[string]string {
	env := map[string]string{"LOG_LEVEL": "warn", "SSF_PUSH_BACKOFF": "50ms", "SSF_PUSH_BACKOFF_MAX": "250ms"}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// receiverCredential registers a receiver with the CLI, as an operator
// does, and returns its credential.
func receiverCredential(t *testing.T, p *e2etest.Proc, name string) string {
	t.Helper()
	out := e2etest.RunCLI(t, map[string]string{"DATABASE_URL": p.Env["DATABASE_URL"], "LOG_LEVEL": "error"},
		"ssf", "receiver", "create", name)
	cred := strings.TrimSpace(out)
	if !strings.HasPrefix(cred, "lkr_") {
		t.Fatalf("ssf receiver create printed %q", out)
	}
	return cred
}

var apiBuild struct {
	sync.Mutex
	path string
	err  error
}

// buildAPI compiles ./examples/api beside the latchkey binary (removed with
// it when the tests end).
func buildAPI(t *testing.T) string {
	t.Helper()
	lk := e2etest.Build(t)
	apiBuild.Lock()
	defer apiBuild.Unlock()
	if apiBuild.path == "" && apiBuild.err == nil {
		root, err := e2etest.ModuleRoot()
		if err == nil {
			path := filepath.Join(filepath.Dir(lk), "api")
			cmd := exec.Command("go", "build", "-o", path, "./examples/api")
			cmd.Dir = root
			if out, err2 := cmd.CombinedOutput(); err2 != nil {
				err = fmt.Errorf("go build ./examples/api: %w\n%s", err2, out)
			} else {
				apiBuild.path = path
			}
		}
		apiBuild.err = err
	}
	if apiBuild.err != nil {
		t.Fatal(apiBuild.err)
	}
	return apiBuild.path
}

// apiProc is a running examples/api.
type apiProc struct {
	url  string
	args []string
	env  []string
	cmd  *exec.Cmd
	out  *testkit.Buffer
	done chan struct{}
}

// startAPI starts the example API against issuer with a receiver credential
// (polling, or push with push set) on a free loopback port, and waits until
// its receiver has caught up (GET /healthz 200).
func startAPI(t *testing.T, issuer, cred string, push bool) *apiProc {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-addr", fmt.Sprintf("127.0.0.1:%d", port), "-name", "e2e-api"}
	if push {
		args = append(args, "-push")
	}
	a := &apiProc{url: fmt.Sprintf("http://127.0.0.1:%d", port), args: args,
		env: []string{"LATCHKEY_ISSUER=" + issuer, "LATCHKEY_RECEIVER_CREDENTIAL=" + cred, "PATH=" + os.Getenv("PATH")}}
	a.start(t)
	return a
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start runs the process (again) and waits until it is ready.
func (a *apiProc) start(t *testing.T) {
	t.Helper()
	a.out, a.done = &testkit.Buffer{}, make(chan struct{})
	a.cmd = exec.Command(buildAPI(t), a.args...)
	a.cmd.Env = a.env
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := a.done
	go func() { a.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		a.kill()
		if t.Failed() {
			t.Logf("api output:\n%s", a.out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, err := http.Get(a.url + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			t.Fatalf("the API exited before it was ready:\n%s", a.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API was not ready within 30s:\n%s", a.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to exit.
func (a *apiProc) kill() {
	if a.cmd.Process != nil {
		a.cmd.Process.Kill()
	}
	<-a.done
}

// me calls GET /api/me with an access token and returns the status and the
// error_reason of a refusal.
func (a *apiProc) me(t *testing.T, token string) (int, string) {
	t.Helper()
	r, err := call(&http.Client{Timeout: 5 * time.Second}, "GET", a.url+"/api/me", nil, token)
	if err != nil {
		t.Fatal(err)
	}
	return r.status, r.str("error_reason")
}

// refusedWithin returns how long after start the API first refused token
// as session_revoked (polling every 10 ms), failing after 10 s.
func (a *apiProc) refusedAfter(t *testing.T, token string, start time.Time) time.Duration {
	t.Helper()
	for {
		status, reason := a.me(t, token)
		if status == http.StatusUnauthorized {
			if reason != "session_revoked" {
				t.Fatalf("refused with error_reason %q, want session_revoked", reason)
			}
			return time.Since(start)
		}
		if status != http.StatusOK {
			t.Fatalf("GET /api/me = %d", status)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the API still accepts the revoked session's token after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// median returns the median of ds.
func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Push endpoint process. TestMain runs pushEndpointMain instead of the
// tests when LATCHKEY_E2E_PUSH_ENDPOINT names an address: the test binary
// itself is the receiver process the crash test kills.

const pushSecret = "Bearer e2e-push-secret"

// pushEndpointMain serves POST /events on addr and appends every SET pushed
// with the right authorization to the file named by
// LATCHKEY_E2E_PUSH_LOG, one per line, before answering 202 (RFC 8935).
func pushEndpointMain(addr string) int {
	f, err := os.OpenFile(os.Getenv("LATCHKEY_E2E_PUSH_LOG"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex
	err = http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != pushSecret {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		_, err = f.Write(append(bytes.TrimSpace(b), '\n'))
		mu.Unlock()
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// pushProc is a running push endpoint process.
type pushProc struct {
	addr, log string
	cmd       *exec.Cmd
	done      chan struct{}
}

func startPushEndpoint(t *testing.T, addr, log string) *pushProc {
	t.Helper()
	p := &pushProc{addr: addr, log: log, done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0])
	p.cmd.Env = append(os.Environ(), "LATCHKEY_E2E_PUSH_ENDPOINT="+addr, "LATCHKEY_E2E_PUSH_LOG="+log)
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatal("the push endpoint did not listen within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *pushProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// sets returns the SETs the endpoint has recorded.
func (p *pushProc) sets(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(p.log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	return out
}

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
