package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/auth/userstest"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// backends are the databases the application runs on: a SQLite file, and
// a fresh PostgreSQL database (its URL as an application would have it,
// without the search_path pgtest adds for its own tests).
var backends = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"SQLite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "notes.db") }},
	{"PostgreSQL", func(t *testing.T) string {
		u, err := url.Parse(pgtest.FreshDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Del("search_path")
		u.RawQuery = q.Encode()
		return u.String()
	}},
}

type env struct {
	srv *httptest.Server
	app *app
	clk *testkit.Clock
}

func start(t *testing.T, db string) *env {
	t.Helper()
	clk := testkit.NewClock(time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC))
	srv := httptest.NewUnstartedServer(nil)
	a, err := newApp(context.Background(), config{DB: db, BaseURL: "http://" + srv.Listener.Addr().String(),
		BcryptCost: bcrypt.MinCost, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = a.handler
	srv.Start()
	t.Cleanup(func() { srv.Close(); a.Close() })
	return &env{srv: srv, app: a, clk: clk}
}

func (e *env) call(t *testing.T, method, path, ctype, body, bearer string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// The walk-through of docs/embedding.md over real HTTP, on both databases:
// sign in with the application's own account, call the API with the
// access token (the plan claim comes from the application's users table),
// refresh when it expires, sign out, and the API refuses the token.
func TestWalkThrough(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := start(t, b.url(t))
			ctx := context.Background()
			if _, err := e.app.users.add(ctx, "Ann@Example.com", "correct horse", "free"); err != nil {
				t.Fatal(err)
			}
			form := "application/x-www-form-urlencoded"
			code, tok := e.call(t, "POST", "/oauth/token", form,
				url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {"correct horse"}}.Encode(), "")
			if code != 200 {
				t.Fatalf("sign-in: %d %v", code, tok)
			}
			access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
			if code, m := e.call(t, "GET", "/api/me", "", "", access); code != 200 || m["plan"] != "free" {
				t.Fatalf("the plan claim: %d %v", code, m)
			}
			for i := range 4 {
				code, m := e.call(t, "POST", "/api/notes", "application/json", `{"body":"buy milk"}`, access)
				if want := map[bool]int{true: 201, false: 403}[i < 3]; code != want {
					t.Fatalf("note %d on the free plan: %d %v; want %d", i+1, code, m, want)
				}
			}
			e.clk.Advance(16 * time.Minute) // the access token has expired
			if code, m := e.call(t, "GET", "/api/notes", "", "", access); code != 401 || m["message"] != "the access token has expired" {
				t.Fatalf("expired access token: %d %v", code, m)
			}
			code, tok = e.call(t, "POST", "/oauth/token", form, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}.Encode(), "")
			if code != 200 || tok["refresh_token"] == refresh {
				t.Fatalf("refresh: %d %v", code, tok)
			}
			access = tok["access_token"].(string)
			if code, m := e.call(t, "GET", "/api/notes", "", "", access); code != 200 || len(m["notes"].([]any)) != 3 {
				t.Fatalf("notes after the refresh: %d %v", code, m)
			}
			if code, m := e.call(t, "POST", "/auth/sign-out", "", "", access); code != 204 {
				t.Fatalf("sign-out: %d %v", code, m)
			}
			if code, _ := e.call(t, "GET", "/api/notes", "", "", access); code != 401 {
				t.Fatalf("the API after sign-out: %d", code)
			}
			// Sign-up belongs to the application when it brings its own users.
			if code, m := e.call(t, "POST", "/auth/sign-up", "application/json", `{"email":"x@example.com","password":"password123"}`, ""); code != 501 {
				t.Fatalf("sign-up: %d %v", code, m)
			}
			if code, m := e.call(t, "GET", "/nothing/here", "", "", ""); code != 404 || m["error"] != "not_found" {
				t.Fatalf("an unknown path: %d %v", code, m)
			}
		})
	}
}

// On PostgreSQL the application's users table and Latchkey's share one
// database: the application's stays in public, Latchkey's go to schema
// latchkey.
func TestTablesCoexist(t *testing.T) {
	db := backends[1].url(t)
	e := start(t, db)
	if _, err := e.app.users.add(context.Background(), "ann@example.com", "correct horse", "pro"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var plans, latchkeyUsers int
	if err := conn.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM public.users WHERE plan = 'pro'),
		(SELECT count(*) FROM latchkey.users)`).Scan(&plans, &latchkeyUsers); err != nil {
		t.Fatal(err)
	}
	if plans != 1 || latchkeyUsers != 0 {
		t.Fatalf("public.users has %d pro accounts (want 1), latchkey.users %d rows (want 0)", plans, latchkeyUsers)
	}
}

// Deactivating an account in the application's table ends its access at
// once on the API and on refresh.
func TestDeactivatedAccount(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := start(t, b.url(t))
			ctx := context.Background()
			id, err := e.app.users.add(ctx, "ann@example.com", "correct horse", "free")
			if err != nil {
				t.Fatal(err)
			}
			code, tok := e.call(t, "POST", "/auth/sign-in", "application/json", `{"email":"ann@example.com","password":"correct horse"}`, "")
			if code != 200 {
				t.Fatalf("sign-in: %d %v", code, tok)
			}
			if err := e.app.users.setActive(ctx, id, false); err != nil {
				t.Fatal(err)
			}
			if code, _ := e.call(t, "GET", "/api/notes", "", "", tok["accessToken"].(string)); code != 401 {
				t.Fatalf("the API with a deactivated account: %d", code)
			}
			if code, m := e.call(t, "POST", "/token", "application/json", `{"refreshToken":"`+tok["refreshToken"].(string)+`"}`, ""); code != 400 || m["error"] != "user_inactive" {
				t.Fatalf("refresh with a deactivated account: %d %v", code, m)
			}
		})
	}
}

// A protected handler tested on its own, without a sign-in: WithPrincipal
// puts the principal where the middleware would.
func TestMeHandler(t *testing.T) {
	a := &app{}
	req := httptest.NewRequest("GET", "/api/me", nil)
	p := auth.Principal{UserID: "u-1", SessionID: "s-1"}
	p.Claims.Extra = map[string]any{"plan": "pro"}
	req = req.WithContext(latchkey.WithPrincipal(req.Context(), p))
	rec := httptest.NewRecorder()
	a.me(rec, req)
	var m map[string]any
	json.NewDecoder(rec.Body).Decode(&m)
	if rec.Code != 200 || m["user"] != "u-1" || m["plan"] != "pro" {
		t.Fatalf("GET /api/me: %d %v", rec.Code, m)
	}
}

// The application's users table passes the same Users conformance suite as
// Latchkey's built-in users, on both databases.
func TestAccountsConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			userstest.Run(t, func(t *testing.T) userstest.Fixture {
				e := start(t, b.url(t))
				users, ctx := e.app.users, context.Background()
				return userstest.Fixture{
					Users: users, Store: e.app.st,
					Add: func(t *testing.T, email, pw string, active bool) store.User {
						id, err := users.add(ctx, email, pw, "free")
						if err != nil {
							t.Fatal(err)
						}
						if !active {
							users.setActive(ctx, id, false)
						}
						u, err := users.UserByID(ctx, id)
						if err != nil {
							t.Fatal(err)
						}
						return u
					},
					SetActive: func(t *testing.T, id string, active bool) {
						if err := users.setActive(ctx, id, active); err != nil {
							t.Fatal(err)
						}
					},
				}
			})
		})
	}
}
