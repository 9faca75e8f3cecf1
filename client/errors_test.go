package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/client"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// Errors carry the status, the canonical code and message, and Retry-After
// in either of its forms; a body that is not a Latchkey error leaves Code
// empty.
func TestErrorsFromAnswers(t *testing.T) {
	clock := testkit.NewClock(servertest.Epoch)
	for _, tt := range []struct {
		name   string
		status int
		header string
		body   string
		want   client.Error
		reauth bool
	}{
		{"rate limited", 429, "7", `{"error":"rate_limited","message":"too many requests; retry later"}`,
			client.Error{Status: 429, Code: client.CodeRateLimited, Message: "too many requests; retry later", RetryAfter: 7 * time.Second}, false},
		{"unavailable, HTTP-date", 503, servertest.Epoch.Add(90 * time.Second).Format(http.TimeFormat), `{"error":"temporarily_unavailable","message":"retry later"}`,
			client.Error{Status: 503, Code: client.CodeUnavailable, Message: "retry later", RetryAfter: 90 * time.Second}, false},
		{"a proxy's page", 502, "", `<html>Bad Gateway</html>`, client.Error{Status: 502}, false},
		{"refresh refused", 400, "", `{"error":"refresh_token_reused","message":"sign in again"}`,
			client.Error{Status: 400, Code: client.CodeRefreshReused, Message: "sign in again"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				// The server's clock, by which an HTTP-date is measured.
				w.Header().Set("Date", servertest.Epoch.Format(http.TimeFormat))
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			// No prompt retries of the 5xx (WithReuseInterval(0)): this test
			// reads errors; lost_test.go tests the retries.
			c, err := client.New(srv.URL, client.WithClock(clock.Now), client.WithReuseInterval(0),
				client.WithTokens(client.Tokens{RefreshToken: "r"}))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Refresh(t.Context())
			var ce *client.Error
			if !errors.As(err, &ce) || *ce != tt.want {
				t.Fatalf("err = %#v; want %#v", err, tt.want)
			}
			if client.IsReauthRequired(err) != tt.reauth {
				t.Errorf("IsReauthRequired = %v; want %v", !tt.reauth, tt.reauth)
			}
			// Only a refusal for good drops the tokens.
			if kept := c.Tokens().RefreshToken != ""; kept == tt.reauth {
				t.Errorf("tokens kept: %v; want %v", kept, !tt.reauth)
			}
		})
	}
}

// gate holds the answer to POST /token until released, the way a slow
// network does after the server has already rotated the token.
type gate struct {
	base              http.RoundTripper
	entered, released chan struct{}
	once              sync.Once
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := g.base.RoundTrip(r)
	if r.URL.Path != "/token" {
		return resp, err
	}
	g.once.Do(func() { close(g.entered) })
	select {
	case <-g.released:
		return resp, err
	case <-r.Context().Done():
		if err == nil {
			resp.Body.Close()
		}
		return nil, r.Context().Err() // the answer is lost
	}
}

// A caller that gives up on a refresh must not lose its answer: the server
// has rotated the token, and the client must keep the new one rather than
// present the superseded one again.
func TestCancelledCallerDoesNotLoseTheRefresh(t *testing.T) {
	e := newEnv(t)
	g := &gate{base: e.hits, entered: make(chan struct{}), released: make(chan struct{})}
	c := e.signedIn(t, "pa@example.com", client.WithHTTPClient(&http.Client{Transport: g}))
	before := c.Tokens()

	e.clock.Advance(accessLifetime) // the access token is due
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { _, err := c.Me(ctx); done <- err }()
	<-g.entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Me with a cancelled context = %v; want context.Canceled", err)
	}
	close(g.released)

	// The next call joins the refresh in flight, or finds its tokens: it
	// does not refresh again.
	if _, err := c.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c.Tokens().RefreshToken == before.RefreshToken {
		t.Error("the refresh's answer was lost")
	}
	if n := e.hits.count("POST /token"); n != 1 {
		t.Errorf("%d refresh requests; want 1", n)
	}
	e.noReuse(t)
}
