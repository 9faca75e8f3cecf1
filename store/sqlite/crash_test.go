package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/sqlite"
)

const crashSessions = 16

// TestKill9KeepsAcknowledgedRotations runs rotations in a child process
// that prints every rotation Rotate acknowledged, kills it with SIGKILL in
// the middle of the load, reopens the file and checks that every
// acknowledged generation is there: group commit answers only after COMMIT,
// so nothing a client was told can be lost. A session may be one generation
// ahead of what was printed (committed, killed before the answer), never
// behind and never further ahead.
func TestKill9KeepsAcknowledgedRotations(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	db := openPath(t, path)
	seedCrashSessions(t, db)
	db.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), "LATCHKEY_CRASH_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]int64{}
	sc := bufio.NewScanner(out)
	lines := 0
	killed := false
	for sc.Scan() {
		id, gen, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(id, "c") {
			continue
		}
		g, err := strconv.ParseInt(gen, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		acked[id] = max(acked[id], g)
		if lines++; lines == 2000 && !killed {
			killed = true
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("the child stopped after %d rotations, before it was killed", lines)
	}

	db = openPath(t, path)
	defer db.Close()
	for i := range crashSessions {
		id := fmt.Sprintf("c%02d", i)
		s, err := db.Session(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if want := acked[id]; s.Generation < want || s.Generation > want+1 {
			t.Errorf("%s: generation %d on disk, %d acknowledged before kill -9", id, s.Generation, want)
		}
	}
	t.Logf("%d acknowledged rotations, all on disk after kill -9", lines)
}

// TestCrashChild is the child process of TestKill9KeepsAcknowledgedRotations.
func TestCrashChild(t *testing.T) {
	path := os.Getenv("LATCHKEY_CRASH_CHILD")
	if path == "" {
		t.Skip("run by TestKill9KeepsAcknowledgedRotations")
	}
	db := openPath(t, path)
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for i := range crashSessions {
		id := fmt.Sprintf("c%02d", i)
		wg.Go(func() {
			now := benchBase
			for gen := int64(1); ; gen++ {
				now = now.Add(time.Millisecond)
				if _, err := db.Rotate(context.Background(), store.RotateParams{SessionID: id, Generation: gen,
					Now: now, RefreshTTL: time.Hour, Advance: true}); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(w, "%s %d\n", id, gen+1)
				w.Flush() // the acknowledgement leaves the process now
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func openPath(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func seedCrashSessions(t *testing.T, db *sqlite.DB) {
	t.Helper()
	ctx := context.Background()
	if err := db.CreateUser(ctx, store.User{ID: "u", Email: "u@example.com", PasswordHash: "x",
		Status: store.UserActive, CreatedAt: benchBase, UpdatedAt: benchBase}); err != nil {
		t.Fatal(err)
	}
	for i := range crashSessions {
		if _, err := db.CreateSession(ctx, store.Session{ID: fmt.Sprintf("c%02d", i), UserID: "u", Generation: 1,
			CreatedAt: benchBase, LastRefreshedAt: benchBase, RefreshExpiresAt: benchBase.Add(24 * time.Hour),
			AbsoluteExpiresAt: benchBase.Add(48 * time.Hour)}, 0); err != nil {
			t.Fatal(err)
		}
	}
}
