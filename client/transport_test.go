package client_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/client"
)

// get sends GET /auth/me, the Latchkey server's own access-token-protected
// route, through c's Transport and returns the status.
func get(t *testing.T, e *env, c *client.Client) int {
	t.Helper()
	api := &http.Client{Transport: c.Transport(e.hits)}
	resp, err := api.Get(e.srv.URL + "/auth/me")
	if err != nil {
		t.Error(err)
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestTransportAttachesToken(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn(t, "fa@example.com")
	if got := get(t, e, c); got != http.StatusOK {
		t.Fatalf("GET /auth/me = %d", got)
	}
	if n := e.hits.count("POST /token"); n != 0 {
		t.Errorf("%d refreshes for a fresh token; want 0", n)
	}
}

// The client refreshes shortly before expiry by its own clock: inside the
// default margin (30s, a tenth of 15m being more) it refreshes first.
func TestTransportRefreshesBeforeExpiry(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn(t, "ga@example.com")
	before := c.Tokens()

	e.clock.Advance(accessLifetime - 31*time.Second)
	if got := get(t, e, c); got != http.StatusOK || e.hits.count("POST /token") != 0 {
		t.Fatalf("31s before expiry: %d with %d refreshes; want 200 with none", got, e.hits.count("POST /token"))
	}
	e.clock.Advance(2 * time.Second)
	if got := get(t, e, c); got != http.StatusOK || e.hits.count("POST /token") != 1 {
		t.Fatalf("29s before expiry: %d with %d refreshes; want 200 with one", got, e.hits.count("POST /token"))
	}
	after := c.Tokens()
	if after.AccessToken == before.AccessToken || after.RefreshToken == before.RefreshToken {
		t.Error("the tokens did not change")
	}
	if want := e.clock.Now().Add(accessLifetime); !after.Expiry.Equal(want) {
		t.Errorf("Expiry = %v; want %v", after.Expiry, want)
	}
	if e.hits.count("GET /auth/me") != 2 {
		t.Errorf("GET /auth/me sent %d times; want 2", e.hits.count("GET /auth/me"))
	}
}

// The server's clock is ahead: the access token has expired there while
// the client's clock says it is good. The target answers 401; the transport
// refreshes once and retries once.
func TestTransportRetriesOnceOn401(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn(t, "ha@example.com")
	e.srv.Clock.Advance(accessLifetime + time.Minute)

	if got := get(t, e, c); got != http.StatusOK {
		t.Fatalf("GET /auth/me = %d; want 200 after a refresh", got)
	}
	if me, ref := e.hits.count("GET /auth/me"), e.hits.count("POST /token"); me != 2 || ref != 1 {
		t.Errorf("GET /auth/me %d times, POST /token %d times; want 2 and 1", me, ref)
	}
	e.noReuse(t)
}

// target is a resource server that answers every request 401 and records
// the bodies it got.
type target struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
}

func newTarget(t *testing.T) *target {
	tg := &target{}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		tg.mu.Lock()
		tg.bodies = append(tg.bodies, r.Header.Get("Authorization")+" "+string(b))
		tg.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) seen() []string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]string(nil), tg.bodies...)
}

func TestTransportRetriesOnlyOnce(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn(t, "ia@example.com")
	tg := newTarget(t)
	api := &http.Client{Transport: c.Transport(nil)}

	// http.NewRequest sets GetBody for a strings.Reader: the body is sent
	// again with the retry.
	resp, err := api.Post(tg.URL, "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status %d; want the target's 401", resp.StatusCode)
	}
	seen := tg.seen()
	if len(seen) != 2 {
		t.Fatalf("the target got %d requests; want 2 (one retry)", len(seen))
	}
	if seen[0] == seen[1] || !strings.HasSuffix(seen[0], " payload") || !strings.HasSuffix(seen[1], " payload") {
		t.Errorf("requests %q; want the same body with a new token", seen)
	}
	if !strings.HasPrefix(seen[1], "Bearer "+c.Tokens().AccessToken+" ") {
		t.Errorf("the retry did not carry the refreshed token")
	}
	if n := e.hits.count("POST /token"); n != 1 {
		t.Errorf("%d refreshes; want 1", n)
	}
}

// A body that cannot be replayed (no GetBody) is not retried: the 401 comes
// back as it is, and nothing is refreshed.
func TestTransportDoesNotRetryUnreplayableBody(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn(t, "ja@example.com")
	tg := newTarget(t)
	req, err := http.NewRequest(http.MethodPost, tg.URL, io.NopCloser(bytes.NewReader([]byte("once"))))
	if err != nil {
		t.Fatal(err)
	}
	if req.GetBody != nil {
		t.Fatal("test setup: GetBody is set")
	}
	resp, err := (&http.Client{Transport: c.Transport(nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(tg.seen()) != 1 || e.hits.count("POST /token") != 0 {
		t.Errorf("status %d, %d requests, %d refreshes; want 401, 1, 0", resp.StatusCode, len(tg.seen()), e.hits.count("POST /token"))
	}
}

// Fifty goroutines need a refresh at the same moment: exactly one refresh
// request reaches the server, every call succeeds, and the server never
// sees a refresh token twice (no reuse detection, no reissue).
func TestTransportSingleFlight(t *testing.T) {
	for _, tt := range []struct {
		name    string
		advance func(e *env)
	}{
		// Both clocks agree the token is inside the refresh margin: every
		// goroutine wants to refresh before sending.
		{"due by the client's clock", func(e *env) {
			e.clock.Advance(accessLifetime - 10*time.Second)
			e.srv.Clock.Advance(accessLifetime - 10*time.Second)
		}},
		// Only the server's clock has passed expiry: every goroutine sends
		// the old token, gets a 401, and wants to refresh.
		{"401 from the target", func(e *env) {
			e.srv.Clock.Advance(accessLifetime + time.Minute)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.signedIn(t, "ka@example.com")
			tt.advance(e)

			const n = 50
			var (
				wg    sync.WaitGroup
				ok    atomic.Int32
				start = make(chan struct{})
			)
			for range n {
				wg.Go(func() {
					<-start
					if get(t, e, c) == http.StatusOK {
						ok.Add(1)
					}
				})
			}
			close(start)
			wg.Wait()

			if ok.Load() != n {
				t.Errorf("%d of %d calls succeeded", ok.Load(), n)
			}
			if got := e.hits.count("POST /token"); got != 1 {
				t.Errorf("%d refresh requests; want exactly 1", got)
			}
			e.noReuse(t)
			// The session is alive and refreshes on.
			if _, err := c.Refresh(t.Context()); err != nil {
				t.Errorf("Refresh afterwards: %v", err)
			}
			list, err := c.Sessions(t.Context())
			if err != nil || len(list) != 1 || !list[0].Current {
				t.Errorf("Sessions = %+v, %v; want the one current session", list, err)
			}
		})
	}
}

// recorder is a resource server that records the Authorization header of
// every request, and answers as answer says.
type recorder struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
}

func newRecorder(t *testing.T, answer http.HandlerFunc) *recorder {
	rc := &recorder{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		rc.auths = append(rc.auths, r.URL.Path+" "+r.Header.Get("Authorization"))
		rc.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *recorder) seen() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.auths...)
}

func ok(w http.ResponseWriter, r *http.Request) {}

// A redirect to another origin (another host, or the same host on another
// port) gets no token; a redirect within the origin does.
func TestTransportKeepsTheTokenAtItsOrigin(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn(t, "redirect@example.com")
	bearer := "Bearer " + c.Tokens().AccessToken
	other := newRecorder(t, ok)
	otherPort := strings.TrimPrefix(other.URL, "http://127.0.0.1")
	api := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-other-host":
			http.Redirect(w, r, "http://localhost"+otherPort+"/landed", http.StatusFound)
		case "/to-other-port":
			http.Redirect(w, r, other.URL+"/landed", http.StatusTemporaryRedirect)
		case "/within":
			http.Redirect(w, r, "/landed", http.StatusFound)
		}
	})
	hc := &http.Client{Transport: c.Transport(nil)}
	for _, path := range []string{"/to-other-host", "/to-other-port", "/within"} {
		resp, err := hc.Get(api.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got, want := api.seen(), []string{"/to-other-host " + bearer, "/to-other-port " + bearer, "/within " + bearer, "/landed " + bearer}; !equal(got, want) {
		t.Errorf("the API got %q; want the token on every request", got)
	}
	if got, want := other.seen(), []string{"/landed ", "/landed "}; !equal(got, want) {
		t.Errorf("the other origin got %q; want two requests without a token", got)
	}
}

// Calls to the Latchkey server do not follow a redirect to another origin
// either: their bodies carry refresh tokens and passwords.
func TestServerRedirectToAnotherOriginIsNotFollowed(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	defer thief.Close()
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, thief.URL+r.URL.Path, http.StatusTemporaryRedirect) // 307 keeps method and body
	}))
	defer auth.Close()

	c, err := client.New(auth.URL, client.WithTokens(client.Tokens{RefreshToken: "the-refresh-token"}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Refresh(t.Context())
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusTemporaryRedirect {
		t.Errorf("Refresh redirected to another origin = %v; want the 307 as an error", err)
	}
	if _, err := c.SignIn(t.Context(), "ada@example.com", password); err == nil {
		t.Error("SignIn redirected to another origin succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 0 {
		t.Errorf("the other origin got %q", bodies)
	}
}

// A target that refuses every token does not make the client rotate the
// refresh token at every call: a 401 refreshes only when its challenge says
// invalid_token (RFC 6750 §3.1), and not again for a token just got that
// way.
func TestTransport401DoesNotAmplify(t *testing.T) {
	for _, tt := range []struct {
		name          string
		challenge     string
		wantRefreshes int
	}{
		{"invalid_token every time", `Bearer realm="api", error="invalid_token"`, 1},
		{"another error", `Bearer error="insufficient_scope"`, 0},
		{"no error", `Bearer realm="api"`, 0},
		{"no challenge", "", 0},
		{"another scheme's invalid_token", `Basic realm="api", error="invalid_token"`, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.signedIn(t, "amp@example.com")
			api := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.challenge != "" {
					w.Header().Set("WWW-Authenticate", tt.challenge)
				}
				w.WriteHeader(http.StatusUnauthorized)
			})
			hc := &http.Client{Transport: c.Transport(e.hits)}
			var wg sync.WaitGroup
			for range 5 {
				wg.Go(func() {
					for range 10 {
						resp, err := hc.Get(api.URL + "/things")
						if err != nil {
							t.Error(err)
							return
						}
						resp.Body.Close()
						if resp.StatusCode != http.StatusUnauthorized {
							t.Errorf("status %d; want the target's 401", resp.StatusCode)
						}
					}
				})
			}
			wg.Wait()
			if n := e.hits.count("POST /token"); n != tt.wantRefreshes {
				t.Errorf("%d refreshes for 50 refused calls; want %d", n, tt.wantRefreshes)
			}
			if n := len(api.seen()); n > 50+50*tt.wantRefreshes {
				t.Errorf("%d requests reached the target for 50 calls", n)
			}
			e.noReuse(t)
		})
	}
}

// A 401 for a token that another request has meanwhile replaced is retried
// with the newest token, whatever the challenge, and without a refresh.
func TestTransport401RetriesWithTheNewestToken(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn(t, "newest@example.com")
	old := "Bearer " + c.Tokens().AccessToken
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	api := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == old {
			once.Do(func() { close(arrived); <-release })
			w.WriteHeader(http.StatusUnauthorized) // no challenge at all
		}
	})
	done := make(chan int, 1)
	go func() {
		resp, err := (&http.Client{Transport: c.Transport(nil)}).Get(api.URL + "/things")
		if err != nil {
			t.Error(err)
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-arrived
	if _, err := c.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	close(release)
	if status := <-done; status != http.StatusOK {
		t.Errorf("status %d; want 200 from the retry with the newest token", status)
	}
	if n := e.hits.count("POST /token"); n != 1 {
		t.Errorf("%d refreshes; want only the explicit one", n)
	}
	seen := api.seen()
	if len(seen) != 2 || seen[1] != "/things Bearer "+c.Tokens().AccessToken {
		t.Errorf("the target got %q; want the old token, then the newest", seen)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
