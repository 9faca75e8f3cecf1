package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// TestFaultsNeverReportCommittedRotationsFailed: the real binary on
// PostgreSQL, refreshing clients, and another connection that keeps taking
// row locks (SELECT … FOR UPDATE) on a sample of the sessions and releasing
// them when the refresh statement waiting for them has waited about the
// server's statement_timeout, or just under the instance's
// DATABASE_QUERY_TIMEOUT: the moments where an answer used to be a guess. Every client follows the protocol of
// docs/clients.md: a 503 means "retry the same token after Retry-After".
// The reuse interval is shorter than Retry-After, so a refresh answered 503
// while it had in fact committed would come back as reuse and revoke its
// session. Afterwards no client was ever answered refresh_token_reused.
func TestFaultsNeverReportCommittedRotationsFailed(t *testing.T) {
	const (
		clients      = 12
		queryTimeout = 300 * time.Millisecond
		run          = 6 * time.Second
	)
	dbURL := pgtest.FreshDatabase(t)
	settings := scaleOutSettings(dbURL, "1s") // REFRESH_TOKEN_REUSE_INTERVAL below Retry-After (2s)
	settings["DATABASE_QUERY_TIMEOUT"] = queryTimeout.String()
	a := e2etest.StartServer(t, settings)
	c := &http.Client{Timeout: 30 * time.Second}
	tokens := make([]string, clients)
	ids := make([]string, clients)
	for i := range clients {
		var access string
		access, tokens[i] = signIn(t, c, a, fmt.Sprintf("fault%d@example.com", i))
		ids[i] = sessionOf(t, access).id
	}

	ctx, stop := context.WithTimeout(context.Background(), run)
	defer stop()
	var (
		locks   atomic.Int64
		lockErr error
		wg      sync.WaitGroup
	)
	wg.Go(func() {
		conn, err := pgx.Connect(context.Background(), dbURL)
		if err != nil {
			lockErr = err
			return
		}
		defer conn.Close(context.Background())
		observer, err := pgx.Connect(context.Background(), dbURL) // outside the transaction's snapshot
		if err != nil {
			lockErr = err
			return
		}
		defer observer.Close(context.Background())
		for ctx.Err() == nil {
			sample := rand.Perm(clients)[:clients/3]
			held := make([]string, len(sample))
			for i, k := range sample {
				held[i] = ids[k]
			}
			tx, err := conn.Begin(context.Background())
			if err != nil {
				lockErr = err
				return
			}
			if _, err := tx.Exec(context.Background(), `SELECT 1 FROM sessions WHERE id = ANY($1) ORDER BY id COLLATE "C" FOR UPDATE`, held); err != nil {
				lockErr = err
				tx.Rollback(context.Background())
				return
			}
			// Release the rows when the statement waiting for them has
			// waited a chosen time: in turn around the server's
			// statement_timeout (0.75 of the query timeout, give or take
			// 3 ms) and just before the instance's own timeout (up to 8 ms
			// before it, 2 ms after), where a statement granted its lock
			// committed while the client that gave up reported it failed.
			target := queryTimeout + time.Duration(rand.IntN(11)-8)*time.Millisecond
			if locks.Load()%2 == 0 {
				target = queryTimeout*3/4 + time.Duration(rand.IntN(7)-3)*time.Millisecond
			}
			waited, err := waitForWaiter(ctx, observer)
			if err != nil {
				lockErr = err
				tx.Rollback(context.Background())
				return
			}
			select {
			case <-time.After(target - waited):
			case <-ctx.Done():
			}
			if err := tx.Commit(context.Background()); err != nil {
				lockErr = err
				return
			}
			locks.Add(1)
		}
	})

	type tally struct{ ok, unavailable, retriedOK int }
	var (
		mu       sync.Mutex
		total    tally
		problems []string
	)
	for i := range clients {
		wg.Go(func() {
			tok := tokens[i]
			var mine tally
			retrying := false
			for ctx.Err() == nil {
				r, err := call(c, "POST", a.URL+"/token", map[string]string{"refreshToken": tok}, "")
				switch {
				case err != nil:
					mu.Lock()
					problems = append(problems, fmt.Sprintf("client %d: %v", i, err))
					mu.Unlock()
					return
				case r.status == http.StatusOK:
					mine.ok++
					if retrying {
						mine.retriedOK++
					}
					retrying = false
					tok = r.str("refreshToken")
				case r.status == http.StatusServiceUnavailable:
					// The protocol: wait Retry-After, present the same token.
					mine.unavailable++
					retrying = true
					after, _ := strconv.Atoi(r.header.Get("Retry-After"))
					select {
					case <-time.After(time.Duration(after) * time.Second):
					case <-ctx.Done():
					}
				default:
					mu.Lock()
					problems = append(problems, fmt.Sprintf("client %d (after a 503: %v): %d %s", i, retrying, r.status, r.raw))
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			total.ok += mine.ok
			total.unavailable += mine.unavailable
			total.retriedOK += mine.retriedOK
			mu.Unlock()
		})
	}
	wg.Wait()
	if lockErr != nil {
		t.Fatalf("the lock holder: %v", lockErr)
	}
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d refreshes, %d answered 503 and retried with the same token (%d of those retries succeeded before the end); %d lock rounds of %d sessions",
		total.ok, total.unavailable, total.retriedOK, locks.Load(), clients/3)
	if total.unavailable == 0 {
		t.Error("no refresh waited past the timeout: the locks did not bite")
	}
}

// waitForWaiter waits until a statement of the test's database waits for a
// lock and returns how long it has waited (by the server's clock), or 0 if
// none comes within a second (every client is pausing after a 503).
func waitForWaiter(ctx context.Context, conn *pgx.Conn) (time.Duration, error) {
	for deadline := time.Now().Add(time.Second); ctx.Err() == nil && time.Now().Before(deadline); {
		var waited float64
		err := conn.QueryRow(context.Background(), `
			SELECT COALESCE(max(EXTRACT(EPOCH FROM clock_timestamp() - query_start)), -1)
			FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%UPDATE sessions AS s%'`).Scan(&waited)
		if err != nil {
			return 0, err
		}
		if waited >= 0 {
			return time.Duration(waited * float64(time.Second)), nil
		}
		time.Sleep(time.Millisecond) // polling for the next refresh to queue on the lock
	}
	return 0, nil
}
