package client_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/client"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// counter is a RoundTripper that counts the requests it carries by
// "METHOD /path", so tests can tell how many refreshes reached the server.
type counter struct {
	base http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func newCounter() *counter { return &counter{base: http.DefaultTransport, n: map[string]int{}} }

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[r.Method+" "+r.URL.Path]++
	c.mu.Unlock()
	return c.base.RoundTrip(r)
}

func (c *counter) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// env is a real server and the pieces a client test watches: the client's
// own clock (apart from the server's, so each can run ahead) and a counter
// of the client's requests.
type env struct {
	srv   *servertest.Server
	clock *testkit.Clock // the client's clock
	hits  *counter
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{srv: servertest.Start(t, nil), clock: testkit.NewClock(servertest.Epoch), hits: newCounter()}
}

// client returns a client of e's server on e's clock and counter.
func (e *env) client(t *testing.T, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{client.WithHTTPClient(&http.Client{Transport: e.hits}), client.WithClock(e.clock.Now)}, opts...)
	c, err := client.New(e.srv.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signedIn returns a client signed in as email (signed up if needed).
func (e *env) signedIn(t *testing.T, email string, opts ...client.Option) *client.Client {
	t.Helper()
	c := e.client(t, opts...)
	if _, err := c.SignUp(t.Context(), email, password); err != nil && !isCode(err, client.CodeEmailTaken) {
		t.Fatal(err)
	}
	if _, err := c.SignIn(t.Context(), email, password); err != nil {
		t.Fatal(err)
	}
	return c
}

// noReuse fails the test if the server saw a refresh token presented twice.
func (e *env) noReuse(t *testing.T) {
	t.Helper()
	for _, ev := range []string{"refresh.reuse_detected", "refresh.reissued"} {
		if strings.Contains(e.srv.Logs.String(), ev) {
			t.Errorf("the server logged %s", ev)
		}
	}
}

const password = "correct horse battery staple"

// accessLifetime is the server's default JWT_EXPIRES_IN.
const accessLifetime = 15 * time.Minute
