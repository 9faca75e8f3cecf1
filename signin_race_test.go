package latchkey_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/store/backend"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// TestSignInRacingPasswordChange: a sign-in with the old password has
// checked it (its claims hook runs, after the check and before the session
// is stored) when the user, from another session, changes the password
// and signs every other session out. Once the change has been answered 204,
// no session started with the old password may be alive: the sign-in must
// be refused, or its refresh token be dead. The interleaving is forced by
// the hook, on real HTTP, a real SQLite file and a real PostgreSQL.
func TestSignInRacingPasswordChange(t *testing.T) {
	for _, backendName := range []string{"sqlite", "postgres"} {
		t.Run(backendName, func(t *testing.T) {
			ctx := context.Background()
			url := "sqlite://" + filepath.Join(t.TempDir(), "lk.db")
			if backendName == "postgres" {
				url = pgtest.FreshDatabase(t)
			}
			db, err := backend.Open(ctx, url, backend.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			var (
				armed   atomic.Bool
				checked = make(chan struct{})
				release = make(chan struct{})
			)
			srv := httptest.NewUnstartedServer(nil)
			lk, err := latchkey.New(ctx, latchkey.Options{
				Store: db, Issuer: "http://" + srv.Listener.Addr().String(), RefreshSecret: []byte(strings.Repeat("r", 32)),
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Hasher: password.New(password.Cheap, 4, 8),
				Claims: func(ctx context.Context, userID string, u *auth.User) (map[string]any, error) {
					if armed.CompareAndSwap(true, false) {
						close(checked)
						<-release
					}
					return nil, nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			srv.Config.Handler = lk
			srv.Start()
			t.Cleanup(srv.Close)
			call := func(path, body, bearer string) (int, map[string]any) {
				req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if bearer != "" {
					req.Header.Set("Authorization", "Bearer "+bearer)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return 0, map[string]any{"transport": err.Error()}
				}
				defer resp.Body.Close()
				var m map[string]any
				raw, _ := io.ReadAll(resp.Body)
				json.Unmarshal(raw, &m)
				return resp.StatusCode, m
			}
			const creds = `{"email":"ann@example.com","password":"old password"}`
			if st, m := call("/auth/sign-up", creds, ""); st != http.StatusCreated {
				t.Fatalf("sign-up: %d %v", st, m)
			}
			st, mine := call("/auth/sign-in", creds, "")
			if st != http.StatusOK {
				t.Fatalf("sign-in: %d %v", st, mine)
			}

			armed.Store(true)
			type result struct {
				status int
				body   map[string]any
			}
			done := make(chan result, 1)
			go func() {
				st, m := call("/auth/sign-in", creds, "")
				done <- result{st, m}
			}()
			select {
			case <-checked:
			case <-time.After(30 * time.Second):
				t.Fatal("the racing sign-in never reached its claims hook")
			}
			st, m := call("/auth/password", `{"currentPassword":"old password","newPassword":"new password"}`, mine["accessToken"].(string))
			close(release)
			if st != http.StatusNoContent {
				t.Fatalf("change: %d %v", st, m)
			}
			r := <-done
			t.Logf("the sign-in that checked the old password before the change: %d %v", r.status, r.body["error"])
			if r.status == http.StatusOK {
				st, m := call("/token", `{"refreshToken":"`+r.body["refreshToken"].(string)+`"}`, "")
				if st == http.StatusOK {
					t.Errorf("a session started with the old password outlived the change that signed every other session out")
				} else {
					t.Logf("its refresh: %d %v", st, m["error"])
				}
			} else if r.status != http.StatusUnauthorized || r.body["error"] != "invalid_credentials" {
				t.Errorf("the racing sign-in: %d %v, want 401 invalid_credentials (or 200 with a dead session)", r.status, r.body)
			}
			if st, _ := call("/token", `{"refreshToken":"`+mine["refreshToken"].(string)+`"}`, ""); st != http.StatusOK {
				t.Errorf("the caller's own session after its change: %d", st)
			}
		})
	}
}
