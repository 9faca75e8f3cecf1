package ssf_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/ssf"
)

// Attacks on the transmitter's routes that the other tests do not cover.

// runKnownFindings runs the tests of findings that are known and not fixed
// (they fail).
var runKnownFindings = flag.Bool("known-findings", false, "run the tests of known, unfixed findings")

// A poll waiting on a stream that is deleted meanwhile (the receiver's new
// process replaces its stream, an operator deletes the receiver, purge)
// answers 404 like any poll of a missing stream, never 500.
func TestPollOfAStreamDeletedWhileWaiting(t *testing.T) {
	e := newEnv(t, func(o *ssf.Options) { o.LongPoll = 20 * time.Second })
	c := e.createPoll()
	other := e.createPoll()
	type answer struct {
		status int
		body   string
	}
	done := make(chan answer, 1)
	go func() {
		status, b := e.do("POST", ssf.PathPoll+c.StreamID, e.cred, map[string]any{"returnImmediately": false})
		done <- answer{status, string(b)}
	}()
	e.waitForPoller(c.StreamID)
	e.want(http.StatusNoContent, "DELETE", ssf.PathStream+"?stream_id="+c.StreamID, e.cred, nil, nil)
	e.addVerification(other.StreamID, "wake") // a new event wakes the waiting poll
	select {
	case a := <-done:
		if a.status != http.StatusNotFound {
			t.Errorf("a poll whose stream was deleted while it waited = %d %s; want 404", a.status, a.body)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the waiting poll did not return")
	}
}

// Cloud metadata services that do not live at link-local addresses, and
// IPv6 addresses that carry a forbidden IPv4 address inside them, are
// refused as push endpoints like 169.254.169.254 is: the AWS instance
// metadata service's IPv6 address (fd00:ec2::254, a unique local address,
// which private networks otherwise may use), Alibaba Cloud's
// (100.100.100.200), Azure's WireServer (168.63.129.16), and
// 169.254.169.254 or 127.0.0.1 as an IPv4-compatible, NAT64 (RFC 6052) or
// 6to4 (RFC 3056) address.
func TestPushToHiddenMetadataAddresses(t *testing.T) {
	e := newEnv(t, func(o *ssf.Options) { o.AllowLoopback = false })
	for _, u := range []string{
		"http://[fd00:ec2::254]/latest/meta-data/",
		"http://[fd00:ec2::23]/",
		"http://100.100.100.200/latest/meta-data/",
		"http://168.63.129.16/machine",
		"http://192.0.0.192/opc/v1/",
		"http://[::169.254.169.254]/",
		"http://[::127.0.0.1]/",
		"http://[64:ff9b::169.254.169.254]/",
		"http://[64:ff9b::127.0.0.1]/",
		"http://[2002:a9fe:a9fe::]/",
		"http://[2002:7f00:1::1]/",
	} {
		status, b := e.do("POST", ssf.PathStream, e.cred, map[string]any{"delivery": map[string]any{
			"method": ssf.MethodPush, "endpoint_url": u}})
		if status != http.StatusBadRequest {
			t.Errorf("a push stream to %s = %d %s; want 400", u, status, b)
		}
	}
	// Private addresses stay allowed: receivers are usually the operator's
	// own APIs on an internal network.
	for _, u := range []string{"http://10.1.2.3/ssf", "http://[fd12:3456:789a::1]/ssf", "http://[2001:db8::1]/ssf", "http://100.64.1.2/ssf"} {
		e.want(http.StatusCreated, "POST", ssf.PathStream, e.cred, map[string]any{"delivery": map[string]any{
			"method": ssf.MethodPush, "endpoint_url": u}}, nil)
	}
}

// A push endpoint may carry its receiver's secret in its query string (a
// webhook's token); a failing push logs why, never the URL with it.
func TestPushFailureLogsNoEndpointSecret(t *testing.T) {
	logs := &testkit.Buffer{}
	e := newEnv(t, func(o *ssf.Options) { o.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // nothing listens there any more: every push fails to connect
	var c config
	e.want(http.StatusCreated, "POST", ssf.PathStream, e.cred, map[string]any{"delivery": map[string]any{
		"method": ssf.MethodPush, "endpoint_url": gone.URL + "/ssf?token=webhook-secret-value"}}, &c)
	e.addVerification(c.StreamID, "x")
	waitUntil(t, "the failed push is logged", func() bool { return strings.Contains(logs.String(), "push failed") })
	if strings.Contains(logs.String(), "webhook-secret-value") {
		t.Errorf("the endpoint's secret is in the log:\n%s", logs)
	}
}

// waitForPoller waits until a poll has found the stream (it shows a sign of
// life: the stream's first since it was created).
func (e *env) waitForPoller(streamID string) {
	e.t.Helper()
	waitUntil(e.t, "a poll reaches its stream", func() bool {
		s, err := e.db.Stream(context.Background(), streamID)
		if err != nil {
			e.t.Fatal(err)
		}
		return !s.SeenAt.Equal(s.CreatedAt)
	})
}

// A receiver that hangs up while its poll waits has not met a server
// error: the access log records the poll at info level (499, the customary
// "client closed request"), not as a 500 at error level.
func TestPollerHangsUp(t *testing.T) {
	e := newEnv(t, func(o *ssf.Options) { o.LongPoll = 20 * time.Second })
	logs := &testkit.Buffer{}
	mux := http.NewServeMux()
	e.tr.Register(mux)
	srv := httptest.NewServer(httpapi.AccessLog(slog.New(slog.NewJSONHandler(logs, nil)), httpapi.ClientIP{})(mux))
	defer srv.Close()
	c := e.createPoll()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+ssf.PathPoll+c.StreamID, strings.NewReader(`{"returnImmediately":false}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.cred)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	e.waitForPoller(c.StreamID)
	cancel()
	<-done
	waitUntil(t, "the poll is logged", func() bool { return strings.Contains(logs.String(), ssf.PathPoll) })
	if line := logs.String(); strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"status":500`) {
		t.Errorf("a poller that hung up is logged as a server error: %s", line)
	}
}

// An instance whose clock runs ahead of another's takes the other's push
// leases while they are still held (by more than three quarters of the
// lease; by more than the push timeout while the holder's renewals fail),
// and both push the stream: the same SETs twice, and out of order. The
// lease compares each instance's own clock with a time another instance
// wrote. Fixing it needs the database's clock in LeaseStream (on
// PostgreSQL), a change of the store contract (its suite passes made-up
// times); until then docs/revocation.md asks for clocks kept within
// SSF_PUSH_LEASE/4 of each other (NTP).
func TestPushLeaseUnderClockSkew(t *testing.T) {
	if !*runKnownFindings {
		t.Skip("known finding, not fixed: an instance whose clock is ahead by most of SSF_PUSH_LEASE pushes a stream another live instance holds (-known-findings runs it)")
	}
	e := newEnv(t, func(o *ssf.Options) { o.PushLease = 2 * time.Second })
	// The receiver holds every push until the pusher gives up on it, and
	// notes the iss of what it gets: each instance has its own.
	pushedBy := make(chan string, 100)
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, claims := e.claims(string(b))
		select {
		case pushedBy <- claims["iss"].(string):
		default:
		}
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop)
	var c config
	e.want(http.StatusCreated, "POST", ssf.PathStream, e.cred, map[string]any{"delivery": map[string]any{
		"method": ssf.MethodPush, "endpoint_url": srv.URL + "/events"}}, &c)
	e.addVerification(c.StreamID, "1")
	if iss := <-pushedBy; iss != e.url {
		t.Fatalf("first push from %s", iss)
	} // e's instance holds the lease and is pushing
	ahead := func() time.Time { return time.Now().Add(10 * time.Second) }
	other, err := ssf.New(ssf.Options{Feed: e.db, Tokens: e.iss, Issuer: e.url + "/other", WatchInterval: 10 * time.Millisecond,
		PushLease: 2 * time.Second, PushBackoff: 10 * time.Millisecond, AllowLoopback: true, Now: ahead})
	if err != nil {
		t.Fatal(err)
	}
	other.Start()
	defer other.Close()
	deadline := time.After(time.Second)
	for {
		select {
		case iss := <-pushedBy:
			if iss != e.url {
				t.Fatalf("the other instance (its clock 10s ahead) pushed a stream whose lease a live instance holds")
			}
		case <-deadline:
			return
		}
	}
}

// A poll may report up to 1,000 SETs in setErrs; each report must not
// become a line of the log, or one request writes a thousand.
func TestSetErrsDoNotFloodTheLog(t *testing.T) {
	logs := &testkit.Buffer{}
	e := newEnv(t, func(o *ssf.Options) { o.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	c := e.createPoll()
	errs := map[string]any{}
	for i := range 1000 {
		errs[fmt.Sprintf("jti-%04d", i)] = map[string]string{"err": "invalid_request", "description": "bad"}
	}
	e.poll(c, map[string]any{"setErrs": errs, "returnImmediately": true})
	if n := strings.Count(logs.String(), "could not process"); n > 11 {
		t.Errorf("one poll's setErrs wrote %d log lines", n)
	}
	if !strings.Contains(logs.String(), "could not process") {
		t.Error("the setErrs were not logged at all")
	}
}

// The 64-stream limit holds against concurrent creations: a receiver that
// asks for many streams at once (each push stream is one more copy of every
// SET sent to a URL it chooses) gets no more than 64.
func TestStreamLimitUnderConcurrency(t *testing.T) {
	e := newEnv(t)
	for range 60 {
		e.createPoll()
	}
	done := make(chan int, 40)
	for range 40 {
		go func() {
			status, _ := e.do("POST", ssf.PathStream, e.cred, map[string]any{})
			done <- status
		}()
	}
	for range 40 {
		<-done
	}
	ss, err := e.db.Streams(context.Background(), e.rcv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) > 64 {
		t.Errorf("a receiver got %d streams with concurrent requests; the limit is 64", len(ss))
	}
}

// Waiting polls are bounded per stream: each one holds a connection and a
// goroutine, and reads the store again at every new event, so a receiver
// opening hundreds on one stream would multiply the transmitter's work by
// as many. Beyond a few, a poll that would wait is 429 with Retry-After.
func TestWaitingPollsPerStreamAreBounded(t *testing.T) {
	e := newEnv(t, func(o *ssf.Options) { o.LongPoll = 20 * time.Second })
	c := e.createPoll()
	const n = 12
	answers := make(chan int, n)
	for range n {
		go func() {
			req, _ := http.NewRequest("POST", e.url+ssf.PathPoll+c.StreamID, strings.NewReader(`{"returnImmediately":false}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+e.cred)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answers <- 0
				return
			}
			resp.Body.Close()
			answers <- resp.StatusCode
		}()
	}
	refused := 0
	deadline := time.After(10 * time.Second) // the long poll is 20s: only a refusal answers before
	for refused < n-4 {
		select {
		case status := <-answers:
			if status != http.StatusTooManyRequests {
				t.Fatalf("a poll beyond the bound answered %d before any event; want 429", status)
			}
			refused++
		case <-deadline:
			t.Fatalf("%d of %d waiting polls on one stream were refused; want all but 4", refused, n)
		}
	}
	e.tr.Drain() // the 4 that wait answer now
	for range n - refused {
		if status := <-answers; status != http.StatusOK {
			t.Errorf("a waiting poll answered %d", status)
		}
	}
}

// A stream that receives few of the feed's events (one that asks only for
// credential-change events, or none but its own) must not read again, at
// every poll and at every new event a waiting poll wakes for, every event
// since its last acknowledgement: with a busy feed that is every event of
// the retention window, each time. A poll that finds nothing for it moves
// its cursor over what it does not receive.
func TestSparseStreamDoesNotRescanTheFeed(t *testing.T) {
	e := newEnv(t)
	var sparse config
	e.want(http.StatusCreated, "POST", ssf.PathStream, e.cred, map[string]any{
		"events_requested": []string{ssf.EventTypeCredentialChange}}, &sparse)
	busy := e.createPoll()
	for i := range 2000 {
		e.addVerification(busy.StreamID, fmt.Sprint(i)) // events the sparse stream does not receive
	}
	waitUntil(t, "an idle poll moves the sparse stream's cursor over the events it does not receive", func() bool {
		if p := e.poll(sparse, map[string]any{"returnImmediately": true}); len(p.Sets) != 0 {
			t.Fatalf("the sparse stream got %d SETs", len(p.Sets))
		}
		s, err := e.db.Stream(context.Background(), sparse.StreamID)
		if err != nil {
			t.Fatal(err)
		}
		head, err := e.db.FeedHead(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s.Cursor == head
	})
}

// Receiver credentials cannot be guessed (256 random bits), but each
// request with one costs a database read before it is refused, and the
// routes have no rate limit. What cannot be a credential (not lkr_ and 43
// base64url characters) is refused without asking the database: here the
// database is closed, and junk is still a plain 401.
func TestJunkCredentialsDoNotReachTheStore(t *testing.T) {
	e := newEnv(t)
	e.db.Close()
	for _, cred := range []string{"x", "lkr_", "lkr_short", "Basic abc", strings.Repeat("A", 4000), "lkr_" + strings.Repeat("!", 43)} {
		status, b := e.do("GET", ssf.PathStream, cred, nil)
		if status != http.StatusUnauthorized {
			t.Errorf("credential %.20q… = %d %s; want 401 without a database read", cred, status, b)
		}
	}
}
