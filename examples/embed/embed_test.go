package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/auth/userstest"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/store"
)

func start(t *testing.T) (*httptest.Server, *app, *testkit.Clock) {
	t.Helper()
	clk := testkit.NewClock(time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC))
	srv := httptest.NewUnstartedServer(nil)
	a, err := newApp(context.Background(), t.TempDir(), "http://"+srv.Listener.Addr().String(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = a.handler
	srv.Start()
	t.Cleanup(func() { srv.Close(); a.Close() })
	return srv, a, clk
}

func call(t *testing.T, srv *httptest.Server, method, path, ctype, body, bearer string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// The walk-through of docs/embedding.md, over real HTTP: sign in, call the
// API, refresh, call again, sign out, the API refuses.
func TestEmbeddedApp(t *testing.T) {
	srv, a, clk := start(t)
	if err := a.addAccount(context.Background(), "ann@example.com", "correct horse"); err != nil {
		t.Fatal(err)
	}
	form := "application/x-www-form-urlencoded"
	code, tok := call(t, srv, "POST", "/auth/oauth/token", form,
		url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {"correct horse"}}.Encode(), "")
	if code != 200 {
		t.Fatalf("sign-in: %d %v", code, tok)
	}
	access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
	if code, m := call(t, srv, "POST", "/api/notes", "application/json", `{"body":"buy milk"}`, access); code != 201 {
		t.Fatalf("add note: %d %v", code, m)
	}
	clk.Advance(16 * time.Minute) // the access token has expired
	if code, _ := call(t, srv, "GET", "/api/notes", "", "", access); code != 401 {
		t.Fatalf("expired access token: %d", code)
	}
	code, tok = call(t, srv, "POST", "/auth/oauth/token", form, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}.Encode(), "")
	if code != 200 || tok["refresh_token"] == refresh {
		t.Fatalf("refresh: %d %v", code, tok)
	}
	access = tok["access_token"].(string)
	code, m := call(t, srv, "GET", "/api/notes", "", "", access)
	if code != 200 || len(m["notes"].([]any)) != 1 {
		t.Fatalf("list notes after refresh: %d %v", code, m)
	}
	if code, m := call(t, srv, "POST", "/auth/auth/sign-out", "", "", access); code != 204 {
		t.Fatalf("sign-out: %d %v", code, m)
	}
	if code, _ := call(t, srv, "GET", "/api/notes", "", "", access); code != 401 {
		t.Fatalf("the API must refuse after sign-out: %d", code)
	}
	// Sign-up belongs to the application when it brings its own users.
	if code, m := call(t, srv, "POST", "/auth/auth/sign-up", "application/json", `{"email":"x@example.com","password":"password123"}`, ""); code != 501 {
		t.Fatalf("sign-up with the application's users: %d %v", code, m)
	}
}

// Deactivating an account in the application's own table ends its sessions.
func TestDeactivatedAccount(t *testing.T) {
	srv, a, _ := start(t)
	ctx := context.Background()
	a.addAccount(ctx, "ann@example.com", "correct horse")
	code, tok := call(t, srv, "POST", "/auth/auth/sign-in", "application/json", `{"email":"ann@example.com","password":"correct horse"}`, "")
	if code != 200 {
		t.Fatalf("sign-in: %d %v", code, tok)
	}
	u, _ := accounts{a.db}.UserByEmail(ctx, "ann@example.com")
	a.setActive(ctx, u.ID, false)
	if code, _ := call(t, srv, "GET", "/api/notes", "", "", tok["accessToken"].(string)); code != 401 {
		t.Fatalf("API with a deactivated account: %d", code)
	}
	if code, m := call(t, srv, "POST", "/auth/token", "application/json", `{"refreshToken":"`+tok["refreshToken"].(string)+`"}`, ""); code != 400 || m["error"] != "user_inactive" {
		t.Fatalf("refresh with a deactivated account: %d %v", code, m)
	}
}

// The application's users table passes the same Users conformance cases as
// the built-in users.
func TestAccountsConformance(t *testing.T) {
	userstest.Run(t, func(t *testing.T) userstest.Fixture {
		a, err := newApp(context.Background(), t.TempDir(), "http://embed.test", time.Now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		return userstest.Fixture{
			Users: accounts{a.db}, Store: a.lkStore,
			Add: func(t *testing.T, email, pw string, active bool) store.User {
				if err := a.addAccount(context.Background(), email, pw); err != nil {
					t.Fatal(err)
				}
				u, err := accounts{a.db}.UserByEmail(context.Background(), email)
				if err != nil {
					t.Fatal(err)
				}
				if !active {
					a.setActive(context.Background(), u.ID, false)
				}
				return u
			},
			SetActive: func(t *testing.T, id string, active bool) {
				if err := a.setActive(context.Background(), id, active); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}
