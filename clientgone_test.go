package latchkey_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/store"
)

// leavingUsers are the application's users whose lookups, once block is
// set, wait for the caller to give up and then report it the way
// docs/embedding.md and examples/embed tell an application to report its
// database's failures: wrapped in store.ErrUnavailable (database/sql returns
// the context's error as is).
type leavingUsers struct {
	appUsers
	block   atomic.Bool
	entered chan struct{}
}

func (u *leavingUsers) wait(ctx context.Context) error {
	u.entered <- struct{}{}
	<-ctx.Done()
	return fmt.Errorf("users: %w: %w", store.ErrUnavailable, ctx.Err())
}

func (u *leavingUsers) UserByID(ctx context.Context, id string) (store.User, error) {
	if u.block.Load() {
		return store.User{}, u.wait(ctx)
	}
	return u.appUsers.UserByID(ctx, id)
}

func (u *leavingUsers) UserByEmail(ctx context.Context, email string) (store.User, error) {
	if u.block.Load() {
		return store.User{}, u.wait(ctx)
	}
	return u.appUsers.UserByEmail(ctx, email)
}

// statusOf serves h and reports, once each request has been answered, the
// status h wrote.
func statusOf(t *testing.T, h http.Handler) (*httptest.Server, chan int) {
	t.Helper()
	statuses := make(chan int, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		statuses <- rec.status
	}))
	t.Cleanup(srv.Close)
	return srv, statuses
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// leave sends req with a context it cancels once entered receives: the
// client goes away while the server is busy with its request.
func leave(t *testing.T, c *http.Client, req *http.Request, entered <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := c.Do(req.WithContext(ctx))
		if err == nil {
			resp.Body.Close()
			t.Errorf("the request was answered (%d) before the client left", resp.StatusCode)
		}
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the application's users")
	}
	cancel()
	<-done
}

// noAlarm fails when the log holds a warning or an error: a client that went
// away is nobody's outage.
func noAlarm(t *testing.T, what, log string) {
	t.Helper()
	if strings.Contains(log, "level=WARN") || strings.Contains(log, "level=ERROR") {
		t.Errorf("%s: a client that went away was logged as a warning or an error:\n%s", what, log)
	}
}

// attack: a client that goes away while Middleware checks its session, with
// application Users that report failures as docs/embedding.md says (wrapped
// in store.ErrUnavailable, as examples/embed does), was answered 503 and
// logged as a warning that the service is unavailable: every impatient
// client (a closed tab, a cancelled fetch) counts as an outage on the
// dashboards.
func TestClientGoneDuringSessionCheckIsNoOutage(t *testing.T) {
	users := &leavingUsers{entered: make(chan struct{}, 1)}
	a := newAPI(t, nil, func(o *latchkey.Options) {
		users.appUsers = o.Users.(*failingUsers).appUsers
		o.Users = users
	})
	access := a.signIn(t)
	srv, statuses := statusOf(t, a.lk.Middleware(http.HandlerFunc(whoami)))
	users.block.Store(true)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Authorization", "Bearer "+access)
	leave(t, srv.Client(), req, users.entered)
	if st := <-statuses; st >= 500 && st != 499 {
		t.Errorf("a client that went away during the session check: status %d; want 499 (client closed request)", st)
	}
	noAlarm(t, "session check", a.log.String())
}

// attack: a client that goes away while RemoteKeys waits for the JWKS was
// answered 503 and logged as "unavailable" (the wait's error wraps
// token.ErrKeysUnavailable around context.Canceled).
func TestClientGoneWhileWaitingForJWKSIsNoOutage(t *testing.T) {
	clk := testkit.NewClock(jwksT0)
	s := newJWKSServer(t, clk)
	defer close(s.release)
	s.mode.Store("hold")
	log := &testkit.Buffer{}
	a := latchkey.NewAuthenticator(latchkey.AuthOptions{Issuer: "https://auth.example.com", Now: clk.Now,
		Keys:   latchkey.RemoteKeys(s.URL, latchkey.RemoteOptions{Now: clk.Now, Client: &http.Client{}, Timeout: time.Minute}),
		Logger: slog.New(slog.NewTextHandler(log, nil))})
	srv, statuses := statusOf(t, a.Middleware(http.HandlerFunc(whoami)))
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Authorization", "Bearer "+s.mint(t, clk.Now()))
	leave(t, srv.Client(), req, s.entered)
	if st := <-statuses; st >= 500 && st != 499 {
		t.Errorf("a client that went away while the JWKS was fetched: status %d; want 499", st)
	}
	noAlarm(t, "JWKS wait", log.String())
}

// attack: a client that goes away during a sign-in (the application's
// database answering context.Canceled, as database/sql does) was answered
// 500 and logged at error level by the access log: it pages whoever watches
// 5xx.
func TestClientGoneDuringSignInIsNoOutage(t *testing.T) {
	users := &leavingUsers{entered: make(chan struct{}, 1)}
	log := &testkit.Buffer{}
	a := newAPI(t, nil, func(o *latchkey.Options) {
		users.appUsers = o.Users.(*failingUsers).appUsers
		o.Users = plainCancelUsers{users}
		o.Logger = slog.New(slog.NewTextHandler(log, nil))
	})
	srv, statuses := statusOf(t, a.lk)
	users.block.Store(true)
	for _, path := range []string{"/auth/sign-in", "/oauth/token"} {
		body, ctype := `{"email":"ann@example.com","password":"correct horse"}`, "application/json"
		if path == "/oauth/token" {
			body, ctype = "grant_type=password&username=ann%40example.com&password=correct+horse", "application/x-www-form-urlencoded"
		}
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		leave(t, srv.Client(), req, users.entered)
		if st := <-statuses; st >= 500 && st != 499 {
			t.Errorf("%s: a client that went away during sign-in: status %d; want 499", path, st)
		}
	}
	noAlarm(t, "sign-in", log.String())
}

// plainCancelUsers report a cancelled lookup as database/sql does: the
// context's error itself.
type plainCancelUsers struct{ *leavingUsers }

func (u plainCancelUsers) UserByEmail(ctx context.Context, email string) (store.User, error) {
	if u.block.Load() {
		u.entered <- struct{}{}
		<-ctx.Done()
		return store.User{}, ctx.Err()
	}
	return u.appUsers.UserByEmail(ctx, email)
}
