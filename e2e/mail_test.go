package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
	"github.com/latchkey-dev/latchkey/internal/mailtest"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// The mail queue against the real binary and a real SMTP server (Mailpit):
// an outage of the mail server delays mail and loses none, a killed
// instance's queued mail is sent after a restart, once, and two instances
// sharing PostgreSQL send each message once. All names of this file start
// with "mail".

const mailPassword = "mail test password 1"

// mailEnv is the environment of a binary sending to mp quickly: polls and
// retries in fractions of a second, so the tests wait little real time.
func mailEnv(mp *mailtest.Server, more map[string]string) map[string]string {
	env := map[string]string{
		"SMTP_URL": "smtp://" + mp.SMTPAddr, "MAIL_FROM": "Latchkey <no-reply@example.com>",
		"MAIL_POLL_INTERVAL": "100ms", "MAIL_RETRY_BACKOFF": "200ms", "MAIL_RETRY_BACKOFF_MAX": "500ms",
		"MAIL_SEND_TIMEOUT": "2s", "LOG_LEVEL": "warn", "PUBLIC_URL": "http://mail.test",
	}
	for k, v := range more {
		env[k] = v
	}
	return env
}

func mailPost(t *testing.T, base, path string, body any, want int) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(base+path, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d, want %d", path, resp.StatusCode, want)
	}
}

// mailMetric returns the sum of the samples of name (any labels) in base's
// /metrics, and whether there was one.
func mailMetric(t *testing.T, base, name string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

// mailWaitMetric polls until ok(value of name) or the deadline.
func mailWaitMetric(t *testing.T, base, name string, deadline time.Duration, ok func(float64) bool) float64 {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		v, found := mailMetric(t, base, name)
		if found && ok(v) {
			return v
		}
		if time.Now().After(end) {
			t.Fatalf("%s = %v (exported %v) after %s", name, v, found, deadline)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mailExactlyOnce waits until the queue of base is empty and checks that
// each of want received exactly one message and nobody else any.
func mailExactlyOnce(t *testing.T, mp *mailtest.Server, base string, want ...string) {
	t.Helper()
	mp.WaitMessages(t, len(want), 20*time.Second)
	mailWaitMetric(t, base, "latchkey_mail_queue_messages", 10*time.Second, func(v float64) bool { return v == 0 })
	got := map[string]int{}
	for _, m := range mp.Messages(t) {
		got[m.To[0].Address]++
	}
	for _, w := range want {
		if got[w] != 1 {
			t.Errorf("%s received %d messages, want 1", w, got[w])
		}
		delete(got, w)
	}
	if len(got) > 0 {
		t.Errorf("unexpected recipients: %v", got)
	}
}

// TestMailOutage: with the mail server down, a reset is accepted, its mail
// stays queued and the failed attempts show in /metrics; once the server is
// back the mail arrives, once.
func TestMailOutage(t *testing.T) {
	mp := mailtest.Start(t, mailtest.Options{})
	mp.Stop()
	p := e2etest.StartServer(t, mailEnv(mp, nil))
	mailPost(t, p.URL, "/auth/sign-up", map[string]string{"email": "outage@example.com", "password": mailPassword}, 201)
	mailPost(t, p.URL, "/auth/recover", map[string]string{"email": "outage@example.com"}, 202)
	mailWaitMetric(t, p.URL, "latchkey_mail_send_failures_total", 10*time.Second, func(v float64) bool { return v >= 2 })
	if q, _ := mailMetric(t, p.URL, "latchkey_mail_queue_messages"); q != 1 {
		t.Fatalf("queued during the outage: %v, want 1", q)
	}
	if age, _ := mailMetric(t, p.URL, "latchkey_mail_queue_oldest_age_seconds"); age <= 0 {
		t.Errorf("the oldest queued mail's age is %v during the outage", age)
	}
	mp.Restart(t)
	mailExactlyOnce(t, mp, p.URL, "outage@example.com")
	if sent, _ := mailMetric(t, p.URL, "latchkey_mail_sent_total"); sent != 1 {
		t.Errorf("latchkey_mail_sent_total = %v, want 1", sent)
	}
}

// TestMailKilledInstance: kill -9 the service with mail queued (the mail
// server down); after a restart on the same database the mail is sent,
// once.
func TestMailKilledInstance(t *testing.T) {
	mp := mailtest.Start(t, mailtest.Options{})
	mp.Stop()
	db := "sqlite://" + filepath.Join(t.TempDir(), "latchkey.db")
	env := mailEnv(mp, map[string]string{"DATABASE_URL": db})
	a := e2etest.StartServer(t, env)
	mailPost(t, a.URL, "/auth/sign-up", map[string]string{"email": "killed@example.com", "password": mailPassword}, 201)
	mailPost(t, a.URL, "/auth/recover", map[string]string{"email": "killed@example.com"}, 202)
	mailWaitMetric(t, a.URL, "latchkey_mail_send_failures_total", 10*time.Second, func(v float64) bool { return v >= 1 })
	a.Kill()
	mp.Restart(t)
	b := e2etest.StartServer(t, env)
	mailExactlyOnce(t, mp, b.URL, "killed@example.com")
}

// TestMailTwoInstances: two instances on one PostgreSQL database, each
// taking half of the reset requests, send each message exactly once
// between them (the leases): whichever instance leases a message sends it,
// and their sent counters add up to the messages.
func TestMailTwoInstances(t *testing.T) {
	mp := mailtest.Start(t, mailtest.Options{})
	db := pgtest.FreshDatabase(t)
	env := mailEnv(mp, map[string]string{"DATABASE_URL": db, "REFRESH_TOKEN_SECRET": strings.Repeat("k", 40)})
	ps := e2etest.StartServers(t, env, env)
	const n = 20
	var want []string
	for i := range n {
		email := fmt.Sprintf("two-%02d@example.com", i)
		want = append(want, email)
		mailPost(t, ps[i%2].URL, "/auth/sign-up", map[string]string{"email": email, "password": mailPassword}, 201)
	}
	var wg sync.WaitGroup
	for i, email := range want {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mailPost(t, ps[i%2].URL, "/auth/recover", map[string]string{"email": email}, 202)
		}()
	}
	wg.Wait()
	mailExactlyOnce(t, mp, ps[0].URL, want...)
	a, _ := mailMetric(t, ps[0].URL, "latchkey_mail_sent_total")
	b, _ := mailMetric(t, ps[1].URL, "latchkey_mail_sent_total")
	t.Logf("sent by the first instance %v, by the second %v", a, b)
	if a+b != n {
		t.Errorf("the instances sent %v messages between them, want %d", a+b, n)
	}
}
