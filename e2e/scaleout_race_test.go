package e2e

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// jwtGen reads the gen claim of a refresh token (unverified: the server
// verified it; the test only needs to know which generation it carries).
func jwtGen(t *testing.T, jwt string) int64 {
	t.Helper()
	var c struct {
		Gen int64 `json:"gen"`
	}
	testkit.Claims(t, jwt, &c)
	return c.Gen
}

// TestScaleOutRaces: 100 concurrent refreshes of one token, half through
// instance A and half through B, on one PostgreSQL database: exactly one
// rotation happens, every other answer carries the current generation
// (inside the reuse interval) or is a 400, and there are never two live
// chains.
func TestScaleOutRaces(t *testing.T) {
	dbURL := pgtest.FreshDatabase(t)
	a, b := startPair(t, scaleOutSettings(dbURL, "10s"))
	c := &http.Client{Timeout: 20 * time.Second}
	_, refresh := signIn(t, c, a, "race@example.com")

	const n = 100
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		ok     []string
		failed int
	)
	start := make(chan struct{})
	for i := range n {
		via := a
		if i%2 == 1 {
			via = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := call(c, "POST", via.URL+"/token", map[string]string{"refreshToken": refresh}, "")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("refresh: %v", err)
			case r.status == http.StatusOK:
				ok = append(ok, r.str("refreshToken"))
			case r.status == http.StatusBadRequest:
				failed++
			default:
				t.Errorf("unexpected answer %d %v", r.status, r.body)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(ok) == 0 {
		t.Fatalf("no refresh succeeded (%d refused)", failed)
	}
	for _, tok := range ok {
		if g := jwtGen(t, tok); g != 2 {
			t.Fatalf("an answer carries generation %d: two chains (want every answer at generation 2)", g)
		}
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	generation := func() int64 {
		var g int64
		if err := conn.QueryRow(context.Background(), `SELECT generation FROM sessions WHERE revoked_at IS NULL`).Scan(&g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	if g := generation(); g != 2 {
		t.Fatalf("session generation %d after %d concurrent refreshes: want exactly one rotation", g, n)
	}
	t.Logf("%d concurrent refreshes over two instances: %d answered with generation 2, %d refused, one rotation", n, len(ok), failed)
	// Two copies of generation 2 from different instances: the first used
	// rotates, the second (inside the interval) is answered with generation
	// 3 too, never a chain of its own.
	if len(ok) >= 2 {
		r1 := mustCall(t, c, "POST", a.URL+"/token", map[string]string{"refreshToken": ok[0]}, "", http.StatusOK)
		r2 := mustCall(t, c, "POST", b.URL+"/token", map[string]string{"refreshToken": ok[len(ok)-1]}, "", http.StatusOK)
		if jwtGen(t, r1.str("refreshToken")) != 3 || jwtGen(t, r2.str("refreshToken")) != 3 || generation() != 3 {
			t.Fatalf("second copy of a generation forked the chain: %d %d (db %d)",
				jwtGen(t, r1.str("refreshToken")), jwtGen(t, r2.str("refreshToken")), generation())
		}
	}
}
