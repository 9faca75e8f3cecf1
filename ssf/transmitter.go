package ssf

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/token"
)

// The delivery methods (SSF 1.0 §6.1).
const (
	MethodPush = "urn:ietf:rfc:8935"
	MethodPoll = "urn:ietf:rfc:8936"
)

// Paths of the transmitter's routes, below the issuer.
const (
	PathMetadata = "/.well-known/ssf-configuration"
	PathStream   = "/ssf/stream"
	PathStatus   = "/ssf/status"
	PathVerify   = "/ssf/verify"
	PathPoll     = "/ssf/poll/"
	PathJWKS     = "/.well-known/jwks.json"
)

// Options configure a Transmitter. Feed, Tokens and Issuer are required.
type Options struct {
	Feed store.Feed
	// Tokens signs SETs with the access-token key (token.Issuer.SignSET).
	Tokens *token.Issuer
	// Issuer is the iss of SETs and the base URL of the routes (the
	// access tokens' issuer).
	Issuer string
	// AccessTTL is the access-token lifetime (JWT_EXPIRES_IN), Leeway the
	// clock skew verifiers allow. A revocation matters for AccessTTL+Leeway:
	// a new stream replays that much history, and each session-revoked SET
	// says when the session's last access token expires.
	AccessTTL time.Duration
	Leeway    time.Duration
	// LongPoll bounds how long a poll that asked to wait is held open when
	// there is nothing to deliver (SSF_LONG_POLL; default 20s).
	LongPoll time.Duration
	// WatchInterval is how often each instance looks for new events in the
	// store, for push and for waiting polls (SSF_PUSH_INTERVAL; default
	// 100ms).
	WatchInterval time.Duration
	// PushBackoff and PushBackoffMax bound the wait between retries of a
	// failed push: it starts at PushBackoff and doubles up to
	// PushBackoffMax (defaults 1s and 1m).
	PushBackoff    time.Duration
	PushBackoffMax time.Duration
	// PushLease is how long an instance holds the right to push a stream
	// between renewals; a killed instance's streams move to another after
	// at most this long (SSF_PUSH_LEASE; default 10s).
	PushLease time.Duration
	// PushTimeout bounds one push request (default 5s, at most a quarter of
	// PushLease).
	PushTimeout time.Duration
	// Inactivity is how long a stream may go without a sign of life from
	// its receiver (a poll, a management call, a delivered push) before
	// PurgeFeed deletes it (SSF_STREAM_INACTIVITY; the stream's
	// inactivity_timeout; default 24h). A push stream quiet for a quarter of
	// it gets a verification event, whose delivery is a sign of life.
	Inactivity time.Duration
	// AllowLoopback lets streams push to loopback addresses (development,
	// tests). Link-local and unspecified addresses are never allowed.
	AllowLoopback bool
	// Client sends pushes; nil means one that dials only the addresses the
	// push policy allows and follows no redirect (pushClient).
	Client *http.Client
	// ServeJWKS registers GET /.well-known/jwks.json too, for when no
	// dialect serves it (the oauth2 dialect does).
	ServeJWKS bool
	Now       func() time.Time
	Logger    *slog.Logger
}

// Limits on what a receiver can make the transmitter keep or do.
const (
	maxStreamsPerReceiver = 64
	maxEventsRequested    = 32
	maxURILength          = 2048
	maxHeaderLength       = 4096
	maxDescription        = 256
	maxState              = 1024
	maxAcks               = 1000 // ack and setErrs entries in one poll
	maxPollEvents         = 1000
	defaultPollEvents     = 100
	minVerifyInterval     = time.Second
)

// Transmitter is the SSF transmitter. Create it with New, mount it with
// Register, and run push with Start and Close.
type Transmitter struct {
	o      Options
	feed   store.Feed
	log    *slog.Logger
	now    func() time.Time
	owner  string // this instance's name in push leases
	client *http.Client
	watch  *watcher
	push   *pusher

	mu         sync.Mutex
	lastVerify map[string]time.Time // stream id -> last verification request here
	lastTouch  map[string]time.Time // stream id -> last TouchStream from here
	lastPing   map[string]time.Time // stream id -> last liveness verification queued here (push.go)
	waiting    map[string]int       // stream id -> polls waiting on it here (poll.go)
	draining   chan struct{}        // closed by Drain: waiting polls return
	drainOnce  sync.Once
	createMu   sync.Mutex // stream creations, one at a time (the stream limit)
}

// New returns a Transmitter.
func New(o Options) (*Transmitter, error) {
	switch {
	case o.Feed == nil:
		return nil, errors.New("ssf: Options.Feed is required")
	case o.Tokens == nil:
		return nil, errors.New("ssf: Options.Tokens is required")
	case o.Issuer == "":
		return nil, errors.New("ssf: Options.Issuer is required")
	}
	o.Issuer = strings.TrimRight(o.Issuer, "/")
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.AccessTTL, 15*time.Minute)
	def(&o.LongPoll, 20*time.Second)
	def(&o.WatchInterval, 100*time.Millisecond)
	def(&o.PushBackoff, time.Second)
	def(&o.PushBackoffMax, time.Minute)
	def(&o.PushLease, 10*time.Second)
	// A push must end within the margin a worker keeps before its lease
	// runs out (push.go), a quarter lease.
	def(&o.Inactivity, 24*time.Hour)
	def(&o.PushTimeout, 5*time.Second)
	o.PushTimeout = min(o.PushTimeout, o.PushLease/4)
	if o.PushBackoffMax < o.PushBackoff {
		o.PushBackoffMax = o.PushBackoff
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	t := &Transmitter{o: o, feed: o.Feed, log: o.Logger, now: o.Now, owner: hex.EncodeToString(b[:]),
		lastVerify: map[string]time.Time{}, lastTouch: map[string]time.Time{}, lastPing: map[string]time.Time{}, waiting: map[string]int{}, draining: make(chan struct{})}
	t.client = o.Client
	if t.client == nil {
		t.client = pushClient(o.AllowLoopback, o.PushTimeout)
	}
	t.watch = newWatcher(o.Feed, o.WatchInterval, o.Logger)
	t.push = newPusher(t)
	return t, nil
}

// Register mounts the transmitter's routes on mux.
func (t *Transmitter) Register(mux *http.ServeMux) {
	route := func(pattern string, f httpapi.HandlerFunc) { mux.Handle(pattern, httpapi.Handle(f, writeError)) }
	route("GET "+PathMetadata, t.metadata)
	route("POST "+PathStream, t.receiver(t.createStream))
	route("GET "+PathStream, t.receiver(t.readStreams))
	route("PATCH "+PathStream, t.receiver(t.updateStream))
	route("PUT "+PathStream, t.receiver(t.replaceStream))
	route("DELETE "+PathStream, t.receiver(t.deleteStream))
	route("GET "+PathStatus, t.receiver(t.readStatus))
	route("POST "+PathStatus, t.receiver(t.updateStatus))
	route("POST "+PathVerify, t.receiver(t.verify))
	route("POST "+PathPoll+"{stream_id}", t.receiver(t.poll))
	if t.o.ServeJWKS {
		route("GET "+PathJWKS, t.jwks)
	}
}

// Start starts the background work of this instance: watching the store for
// new events and pushing the streams whose lease it holds. Close stops it.
func (t *Transmitter) Start() {
	t.watch.start()
	t.push.start()
	t.log.Info("ssf: transmitter started", "instance", t.owner, "watch_interval", t.o.WatchInterval.String())
}

// Drain makes polls that wait for events return at once, now and from now
// on, so that a stopping server is not held up by them.
func (t *Transmitter) Drain() {
	t.drainOnce.Do(func() { close(t.draining) })
}

// Close stops the background work and releases this instance's push
// leases, so another instance takes its streams over at once.
func (t *Transmitter) Close() {
	t.Drain()
	t.push.stop()
	t.watch.stop()
}

// metadata is the Transmitter Configuration Metadata (SSF 1.0 §7.1).
func (t *Transmitter) metadata(w http.ResponseWriter, r *http.Request) error {
	iss := t.o.Issuer
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"spec_version":               "1_0",
		"issuer":                     iss,
		"jwks_uri":                   iss + PathJWKS,
		"delivery_methods_supported": []string{MethodPush, MethodPoll},
		"configuration_endpoint":     iss + PathStream,
		"status_endpoint":            iss + PathStatus,
		"verification_endpoint":      iss + PathVerify,
		"authorization_schemes":      []map[string]string{{"spec_urn": "urn:ietf:rfc:6750"}},
		"default_subjects":           "ALL",
	})
}

// jwks serves the access-token keys, which also sign SETs.
func (t *Transmitter) jwks(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=60") // as the oauth2 dialect serves it
	_, err := w.Write(t.o.Tokens.JWKS())
	return err
}

// newID returns 16 random bytes in hex: stream ids and event ids.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// storeErr turns a store failure into the answer a receiver gets: an outage
// is 503 with Retry-After; anything else stays a 500 (cause logged).
func storeErr(err error) error {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		h := http.Header{}
		httpapi.WriteRetryAfter(h, 2*time.Second)
		return &httpapi.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
			Message: "the database is not reachable; retry later", Cause: err, Header: h}
	}
	return err
}

// writeError is the transmitter's one error writer: RFC 8935 §2.4's
// {"err", "description"} for every error (SSF 1.0 gives the management API
// status codes but no body), 401 with a Bearer challenge (RFC 6750 §3),
// and a 500 that says nothing of its cause. (A receiver that has gone gets
// 499 from httpapi.Handle, before this.)
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *httpapi.Error
	if !errors.As(err, &e) || e.Status < 400 || e.Status > 599 {
		e = &httpapi.Error{Status: http.StatusInternalServerError, Code: "internal_error", Message: "internal error"}
	}
	h := w.Header()
	for k, vs := range e.Header {
		h[k] = append(h[k][:0:0], vs...)
	}
	if e.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	httpapi.NoStore(w)
	_ = httpapi.WriteJSON(w, e.Status, map[string]string{"err": e.Code, "description": e.Message})
}

// Errors of the management API.
func badRequest(msg string) error {
	return &httpapi.Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: msg}
}

func notFound() error {
	return &httpapi.Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such stream for this receiver"}
}

// Purge deletes what the feed no longer needs (latchkey purge): events that
// happened more than retain ago (JWT_EXPIRES_IN + leeway + SSF_RETENTION_MARGIN:
// every access token they concern has expired, so no receiver needs them),
// and streams whose receiver has not been seen for inactivity.
func Purge(ctx context.Context, feed store.Feed, now time.Time, retain, inactivity time.Duration) (events, streams int64, err error) {
	var unseen time.Time
	if inactivity > 0 {
		unseen = now.Add(-inactivity)
	}
	return feed.PurgeFeed(ctx, now.Add(-retain), unseen)
}
