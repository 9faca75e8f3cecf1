package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3", for PRAGMA integrity_check

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
	"github.com/latchkey-dev/latchkey/store/sqlite"
)

// TestCrashSafetyUnderRefreshLoad runs the real binary on a SQLite file,
// kills it with SIGKILL in the middle of a refresh load, restarts it on the
// same file and checks that nothing acknowledged was lost and nothing forked:
//
//   - every session's generation is the number of rotations its client saw
//     acknowledged, or one more when the request in flight at the kill had
//     committed;
//   - every client continues from its last acknowledged token: a plain
//     rotation, or, when its in-flight rotation had committed, the reuse
//     interval answers with the session's current generation;
//   - no session is revoked or missing, and PRAGMA integrity_check is "ok"
//     after the crash and after a clean stop.
//
// All names of this file start with "crash".
func TestCrashSafetyUnderRefreshLoad(t *testing.T) {
	const (
		clients   = 20
		killAfter = 400 // rotations, or crashLoadTime, whichever first
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := filepath.Join(t.TempDir(), "latchkey.db")
	env := map[string]string{
		"DATABASE_URL": "sqlite://" + db, "REFRESH_TOKEN_REUSE_INTERVAL": crashReuseInterval.String(),
		"LOG_LEVEL": "warn", "SHUTDOWN_TIMEOUT": "5s",
		// A fixed issuer: the restarted server (on another port) accepts the
		// tokens the first one issued.
		"PUBLIC_URL": "http://crash.test",
	}
	p := e2etest.StartServer(t, env)
	hc := &http.Client{Timeout: 5 * time.Second}
	if r, err := crashPost(hc, p.URL+"/auth/sign-up", crashCreds); err != nil || r.Status != 201 {
		t.Fatalf("sign-up: %v %s", err, crashBody(r))
	}
	cs := make([]*crashClient, clients)
	for i := range cs {
		r, err := crashPost(hc, p.URL+"/auth/sign-in", crashCreds)
		if err != nil || r.Status != 200 {
			t.Fatalf("sign-in %d: %v %s", i, err, crashBody(r))
		}
		var out struct{ RefreshToken string }
		_ = json.Unmarshal(r.Body, &out)
		cs[i] = &crashClient{acked: out.RefreshToken, gen: 1, sid: secClaims(t, out.RefreshToken)["sid"].(string)}
	}

	// Load: each client follows its own chain until the server dies under it.
	var total atomic.Int64
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(t, p.URL, &total)
		}()
	}
	deadline := time.Now().Add(crashLoadTime)
	for total.Load() < killAfter && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	p.Kill() // SIGKILL by PID: no shutdown, requests cut mid-flight
	killedAt := time.Now()
	wg.Wait()
	t.Logf("killed after %d acknowledged rotations", total.Load())
	for i, c := range cs {
		if c.unexpected != "" {
			t.Fatalf("client %d before the kill: %s", i, c.unexpected)
		}
	}

	// After the crash: the file is sound and holds every acknowledged rotation.
	crashIntegrity(t, db)
	gens := crashGenerations(ctx, t, db, cs)
	committedInFlight := 0
	for i, c := range cs {
		switch g := gens[i]; {
		case g == c.gen:
		case g == c.gen+1 && c.inFlight:
			committedInFlight++
		default:
			t.Fatalf("client %d: session at generation %d, client acknowledged %d (in flight: %v): lost or forked",
				i, g, c.gen, c.inFlight)
		}
	}
	t.Logf("%d of %d in-flight rotations had committed", committedInFlight, clients)

	// Restart on the same file; every client continues from its last
	// acknowledged token, inside the reuse interval.
	p = e2etest.StartServer(t, env)
	if since := time.Since(killedAt); since > crashReuseInterval-2*time.Second {
		t.Fatalf("restart took %v, too close to the reuse interval (%v) to tell reuse from loss", since, crashReuseInterval)
	}
	for round := 1; round <= 2; round++ {
		for i, c := range cs {
			r, err := crashPost(hc, p.URL+"/token", map[string]string{"refreshToken": c.acked})
			if err != nil || r.Status != 200 {
				t.Fatalf("client %d, round %d after restart: %v %s", i, round, err, crashBody(r))
			}
			var out struct{ RefreshToken string }
			_ = json.Unmarshal(r.Body, &out)
			if g := secGen(t, out.RefreshToken); g != c.gen+1 {
				t.Fatalf("client %d, round %d after restart: generation %d, want %d", i, round, g, c.gen+1)
			}
			c.acked, c.gen = out.RefreshToken, c.gen+1
		}
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("latchkey serve did not stop cleanly: %v\n%s", err, p.Logs())
	}

	crashIntegrity(t, db)
	for i, g := range crashGenerations(ctx, t, db, cs) {
		if g != cs[i].gen {
			t.Fatalf("client %d: final generation %d, want %d", i, g, cs[i].gen)
		}
	}
}

const crashReuseInterval = 10 * time.Second

// crashLoadTime bounds the load before the kill.
const crashLoadTime = 2 * time.Second

var crashCreds = map[string]string{"email": "crash@example.com", "password": "crash-test-password"}

type crashClient struct {
	sid        string
	acked      string // the last refresh token the server acknowledged (200)
	gen        int64  // its generation
	inFlight   bool   // the last request got no answer (the server died)
	unexpected string
}

// run refreshes along the client's chain until a request gets no answer.
func (c *crashClient) run(t *testing.T, base string, total *atomic.Int64) {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	for {
		r, err := crashPost(hc, base+"/token", map[string]string{"refreshToken": c.acked})
		if err != nil {
			c.inFlight = true
			return
		}
		if r.Status != 200 {
			c.unexpected = fmt.Sprintf("status %d %s", r.Status, r.Body)
			return
		}
		var out struct{ RefreshToken string }
		if json.Unmarshal(r.Body, &out) != nil || out.RefreshToken == "" {
			c.unexpected = "no refresh token in " + string(r.Body)
			return
		}
		c.acked, c.gen = out.RefreshToken, c.gen+1
		total.Add(1)
	}
}

func crashBody(r *secResponse) string {
	if r == nil {
		return "(no response)"
	}
	return fmt.Sprintf("%d %s", r.Status, r.Body)
}

func crashPost(hc *http.Client, url string, body any) (*secResponse, error) {
	b, _ := json.Marshal(body)
	return secDo(hc, "POST", url, "application/json", string(b))
}

// crashIntegrity runs PRAGMA integrity_check on the file (no server running).
func crashIntegrity(t *testing.T, db string) {
	t.Helper()
	conn, err := sql.Open("sqlite3", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var res []string
	rows, err := conn.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		res = append(res, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(res, "\n") != "ok" {
		t.Fatalf("PRAGMA integrity_check:\n%s", strings.Join(res, "\n"))
	}
}

// crashGenerations reads every client's session with the SQLite store and
// fails if one is missing or revoked.
func crashGenerations(ctx context.Context, t *testing.T, db string, cs []*crashClient) []int64 {
	t.Helper()
	st, err := sqlite.Open(ctx, "sqlite://"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	gens := make([]int64, len(cs))
	for i, c := range cs {
		sess, err := st.Session(ctx, c.sid)
		if err != nil {
			t.Fatalf("client %d: session %s: %v", i, c.sid, err)
		}
		if sess.Revoked() {
			t.Fatalf("client %d: session revoked (%s)", i, sess.RevokeReason)
		}
		gens[i] = sess.Generation
	}
	return gens
}
