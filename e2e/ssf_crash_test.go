package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

// fixedAddrEnv returns settings with a loopback HTTP_ADDR chosen now, so
// that latchkey restarts where its receivers expect it.
func fixedAddrEnv(t *testing.T, extra map[string]string) map[string]string {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	env := ssfEnv(extra)
	env["HTTP_ADDR"] = fmt.Sprintf("127.0.0.1:%d", port)
	env["DATABASE_URL"] = "sqlite://" + filepath.Join(t.TempDir(), "latchkey.db")
	return env
}

// pollUntil polls the independent receiver through base until it has seen
// sid revoked (at most 10s).
func (w *wire) pollUntil(t *testing.T, base, sid string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		sids, _ := w.poll(base, 100)
		if slices.Contains(sids, sid) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the revocation of %s was never delivered", sid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SIGKILL of latchkey right after a revocation was acknowledged: the
// revocation's event committed with it, so after the restart it is
// delivered, to the independent receiver (which had not polled since) and
// to the API, which kept running through the outage. While latchkey is
// down the API, whose polls fail, goes on answering from what it knows:
// a live session's token is accepted (verified with the keys it holds) and
// a session revoked before the outage stays refused.
func TestSSFServiceKilledAfterRevocation(t *testing.T) {
	env := fixedAddrEnv(t, nil)
	p := e2etest.StartServer(t, env)
	cred := receiverCredential(t, p, "api")
	api := startAPI(t, p.URL, cred, false)
	w := newWire(t, p.URL, p.URL, receiverCredential(t, p, "independent"), nil)
	for more := true; more; { // drain what the new stream replays
		_, more = w.poll(p.URL, 100)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	at, _ := signIn(t, c, p, "crash@example.com")
	live, _ := signIn(t, c, p, "live@example.com")
	gone, _ := signIn(t, c, p, "gone@example.com")
	for _, tok := range []string{at, live, gone} {
		if status, _ := api.me(t, tok); status != http.StatusOK {
			t.Fatalf("the API refuses a live session: %d", status)
		}
	}
	// Revoked, and known to the API, before the outage.
	mustCall(t, c, "POST", p.URL+"/auth/sign-out", map[string]string{"scope": "local"}, gone, http.StatusNoContent)
	api.refusedAfter(t, gone, time.Now())
	mustCall(t, c, "POST", p.URL+"/auth/sign-out", map[string]string{"scope": "local"}, at, http.StatusNoContent)
	p.Kill() // at once: the acknowledgement is all the client had

	// The outage as the API sees it: a poll has failed (at most 10s).
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(api.out.String(), "polling failed; the revoked sessions known so far stay enforced") {
		if time.Now().After(deadline) {
			t.Fatalf("no poll of the API failed while latchkey was down:\n%s", api.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, reason := api.me(t, live); status != http.StatusOK {
		t.Fatalf("during the outage the API answers %d %q for a live session, want 200", status, reason)
	}
	if status, reason := api.me(t, gone); status != http.StatusUnauthorized || reason != "session_revoked" {
		t.Fatalf("during the outage the API answers %d %q for a session revoked before it, want 401 session_revoked", status, reason)
	}

	p = e2etest.StartServer(t, env)
	w.pollUntil(t, p.URL, sidOf(at))
	api.refusedAfter(t, at, time.Now())
	if status, reason := api.me(t, live); status != http.StatusOK {
		t.Fatalf("after the restart the API answers %d %q for a live session, want 200", status, reason)
	}
}

// SIGKILL of a polling receiver (the API): the revocations made while it was
// down are known once it is back, because its new stream replays the last
// access-token lifetime.
func TestSSFPollingReceiverKilled(t *testing.T) {
	p := e2etest.StartServer(t, ssfEnv(nil))
	api := startAPI(t, p.URL, receiverCredential(t, p, "api"), false)
	c := &http.Client{Timeout: 10 * time.Second}
	before, _ := signIn(t, c, p, "before@example.com")
	during, _ := signIn(t, c, p, "during@example.com")
	mustCall(t, c, "POST", p.URL+"/auth/sign-out", map[string]string{"scope": "local"}, before, http.StatusNoContent)
	api.refusedAfter(t, before, time.Now())
	api.kill()
	mustCall(t, c, "POST", p.URL+"/auth/sign-out", map[string]string{"scope": "local"}, during, http.StatusNoContent)
	api.start(t) // healthy once caught up
	for _, tok := range []string{before, during} {
		if status, reason := api.me(t, tok); status != http.StatusUnauthorized || reason != "session_revoked" {
			t.Errorf("after the restart the API answers %d %q for a revoked session", status, reason)
		}
	}
}

// SIGKILL of a push receiver: latchkey retries (with backoff) the pushes
// that fail while it is down, and once it listens again they arrive.
// Duplicates are harmless (a receiver deduplicates by jti); nothing is lost.
func TestSSFPushReceiverKilled(t *testing.T) {
	p := e2etest.StartServer(t, ssfEnv(nil))
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	log := filepath.Join(t.TempDir(), "pushed.log")
	ep := startPushEndpoint(t, addr, log)
	w := newWire(t, p.URL, p.URL, receiverCredential(t, p, "pushed"),
		map[string]any{"method": "urn:ietf:rfc:8935", "endpoint_url": "http://" + addr + "/events", "authorization_header": pushSecret})
	c := &http.Client{Timeout: 10 * time.Second}
	first, _ := signIn(t, c, p, "first@example.com")
	second, _ := signIn(t, c, p, "second@example.com")
	mustCall(t, c, "POST", p.URL+"/auth/sign-out", map[string]string{"scope": "local"}, first, http.StatusNoContent)
	waitPushed(t, w, p.URL, ep, sidOf(first))
	ep.kill()
	mustCall(t, c, "POST", p.URL+"/auth/sign-out", map[string]string{"scope": "local"}, second, http.StatusNoContent)
	// The receiver comes back only once a push to it has failed.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Logs(), "push failed; retrying with backoff") {
		if time.Now().After(deadline) {
			t.Fatalf("no push failed while the receiver was down:\n%s", p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	startPushEndpoint(t, addr, log)
	waitPushed(t, w, p.URL, ep, sidOf(second))
}

// waitPushed waits (at most 10s) until the push endpoint has recorded a
// valid SET revoking sid.
func waitPushed(t *testing.T, w *wire, base string, ep *pushProc, sid string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, set := range ep.sets(t) {
			if revokedSessionOf(t, w.verify(base, set)) == sid {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pushed SET revokes %s", sid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
