package receiver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Options configure a Receiver. Issuer and Credential are required.
type Options struct {
	// Issuer is Latchkey's issuer (the iss of its access tokens and SETs,
	// e.g. https://auth.example.com).
	Issuer string
	// Credential is the receiver credential `latchkey ssf receiver create`
	// printed. Keep it secret.
	Credential string
	// Name names this receiver's stream; starting replaces the stream of
	// that name (the one a previous run of this process left). Default: the
	// host name. Give every process that shares a credential its own name
	// (the host name is distinct per machine and per container).
	Name string
	// PushURL, when set, asks for push delivery (RFC 8935) to this URL,
	// where the application serves Handler. Empty: the receiver polls
	// (RFC 8936).
	PushURL string
	// PollInterval is the wait between polls that found nothing more
	// (default 1s). After a failure the wait doubles up to a minute.
	PollInterval time.Duration
	// JWKSURL overrides the transmitter's jwks_uri.
	JWKSURL string
	// HS256Secret verifies SETs signed with HS256 (a Latchkey with
	// JWT_ALGORITHM=HS256 signs SETs with its JWT_SECRET). Without it only
	// asymmetric algorithms are accepted.
	HS256Secret []byte
	// Leeway is how long past its exp an access token is still accepted by
	// the verifier; revoked sessions are kept that much longer (default
	// 5s, Latchkey's).
	Leeway time.Duration
	// FallbackLifetime is how long a revoked session is kept when its SET
	// does not say when its tokens expire (default 1h; Latchkey's SETs do).
	FallbackLifetime time.Duration
	// Client makes the requests to Latchkey (default: a 30s timeout).
	Client *http.Client
	Logger *slog.Logger
	Now    func() time.Time
}

// Receiver keeps the set of revoked sessions. Create it with Start.
type Receiver struct {
	o      Options
	set    *revokedSet
	keys   *keyCache
	now    func() time.Time
	log    *slog.Logger
	secret string // push: the Authorization the transmitter must send

	mu     sync.Mutex
	meta   metadata
	stream streamInfo // the current stream ("" id before bootstrap)
	acks   []string   // applied, not yet acknowledged (poll)
	errs   map[string]pollSetErr
	state  string // the verification state that marks readiness
	ready  chan struct{}
	once   sync.Once

	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type metadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	ConfigurationEndpoint string `json:"configuration_endpoint"`
	StatusEndpoint        string `json:"status_endpoint"`
	VerificationEndpoint  string `json:"verification_endpoint"`
}

type streamInfo struct {
	id, aud, pollURL  string
	inactivityTimeout time.Duration
}

type pollSetErr struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

// Delivery method URIs (SSF 1.0 §6.1).
const (
	methodPush = "urn:ietf:rfc:8935"
	methodPoll = "urn:ietf:rfc:8936"
)

// Start starts a receiver: it finds the transmitter, (re)creates its stream
// and starts receiving in the background. A wrong credential or issuer is
// an error; a transmitter that cannot be reached is not: the receiver keeps
// trying (and Ready stays open) until it can.
func Start(ctx context.Context, o Options) (*Receiver, error) {
	if o.Issuer == "" || o.Credential == "" {
		return nil, errors.New("receiver: Options.Issuer and Options.Credential are required")
	}
	o.Issuer = strings.TrimRight(o.Issuer, "/")
	if o.Name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "latchkey-receiver"
		}
		o.Name = h
	}
	if o.PushURL != "" {
		if u, err := url.Parse(o.PushURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("receiver: PushURL %q: want an absolute http(s) URL", o.PushURL)
		}
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Leeway <= 0 {
		o.Leeway = 5 * time.Second
	}
	if o.FallbackLifetime <= 0 {
		o.FallbackLifetime = time.Hour
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Receiver{o: o, set: newRevokedSet(), now: o.Now, log: o.Logger, errs: map[string]pollSetErr{},
		state: randomHex(16), ready: make(chan struct{}), quit: make(chan struct{}), done: make(chan struct{})}
	if o.PushURL != "" {
		r.secret = randomHex(32)
	}
	err := r.bootstrap(ctx)
	var perm *permanentError
	if errors.As(err, &perm) {
		return nil, err
	}
	if err != nil {
		r.log.Warn("latchkey receiver: the transmitter cannot be reached yet; retrying in the background", "err", err)
	}
	go r.run()
	return r, nil
}

// Revoked reports whether the session has been revoked (and may still have
// unexpired access tokens). It is safe for concurrent use, O(1), and does
// not allocate.
func (r *Receiver) Revoked(sessionID string) bool { return r.set.has(sessionID) }

// Len returns how many revoked sessions the receiver keeps.
func (r *Receiver) Len() int { return r.set.len() }

// Ready is closed once the receiver has applied the history its stream
// started with: from then on every revocation of the last access-token
// lifetime is known.
func (r *Receiver) Ready() <-chan struct{} { return r.ready }

// Close stops the receiver and deletes its stream (a restart makes a new
// one). The set keeps answering Revoked as it was.
func (r *Receiver) Close() error {
	r.closeOnce.Do(func() {
		close(r.quit)
		<-r.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.mu.Lock()
		s := r.stream
		r.mu.Unlock()
		if s.id == "" {
			return
		}
		if r.o.PushURL == "" {
			_, _ = r.pollOnce(ctx, 0) // acknowledge what was applied
		}
		_, _ = r.call(ctx, http.MethodDelete, r.meta.ConfigurationEndpoint+"?stream_id="+url.QueryEscape(s.id), nil, nil)
	})
	return nil
}

// verified marks the receiver ready when state is the one it asked for.
func (r *Receiver) verified(state string) {
	if state == r.state {
		r.once.Do(func() { close(r.ready) })
	}
}

// permanentError is a failure that retrying will not cure (a refused
// credential, a transmitter that is not the configured issuer).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// bootstrap finds the transmitter, replaces this receiver's stream with a
// new one and asks for the verification event that marks readiness.
func (r *Receiver) bootstrap(ctx context.Context) error {
	m, err := r.discover(ctx)
	if err != nil {
		return err
	}
	if m.Issuer != r.o.Issuer {
		return &permanentError{fmt.Errorf("receiver: the transmitter's issuer is %q, not %q", m.Issuer, r.o.Issuer)}
	}
	if m.ConfigurationEndpoint == "" || m.VerificationEndpoint == "" {
		return &permanentError{errors.New("receiver: the transmitter has no stream management endpoints")}
	}
	jwks := r.o.JWKSURL
	if jwks == "" {
		jwks = m.JWKSURI
	}
	r.mu.Lock()
	r.meta = m
	if r.keys == nil || r.keys.url != jwks {
		r.keys = &keyCache{url: jwks, client: r.o.Client, now: r.now}
	}
	r.mu.Unlock()

	var existing []streamConfig
	if _, err := r.getJSON(ctx, m.ConfigurationEndpoint, &existing); err != nil {
		return err
	}
	for _, s := range existing {
		if s.Description == r.o.Name {
			if _, err := r.call(ctx, http.MethodDelete, m.ConfigurationEndpoint+"?stream_id="+url.QueryEscape(s.StreamID), nil, nil); err != nil {
				return err
			}
		}
	}
	req := map[string]any{"description": r.o.Name, "events_requested": []string{eventSessionRevoked, eventCredentialChange}}
	if r.o.PushURL != "" {
		req["delivery"] = map[string]string{"method": methodPush, "endpoint_url": r.o.PushURL, "authorization_header": "Bearer " + r.secret}
	} else {
		req["delivery"] = map[string]string{"method": methodPoll}
	}
	var created streamConfig
	if _, err := r.call(ctx, http.MethodPost, m.ConfigurationEndpoint, req, &created); err != nil {
		return err
	}
	if created.Iss != r.o.Issuer || created.StreamID == "" || created.Aud == "" {
		return &permanentError{fmt.Errorf("receiver: the new stream's iss %q or id or aud is not as expected", created.Iss)}
	}
	r.mu.Lock()
	r.stream = streamInfo{id: created.StreamID, aud: created.Aud, pollURL: created.Delivery.EndpointURL,
		inactivityTimeout: time.Duration(created.InactivityTimeout) * time.Second}
	r.acks, r.errs = nil, map[string]pollSetErr{}
	r.mu.Unlock()
	r.log.Info("latchkey receiver: stream ready", "stream_id", created.StreamID, "push", r.o.PushURL != "")
	return r.requestVerification(ctx)
}

// requestVerification asks for the verification event (with this
// receiver's state) that follows the history on the stream; a 429 waits
// and tries again.
func (r *Receiver) requestVerification(ctx context.Context) error {
	for range 10 {
		r.mu.Lock()
		body := map[string]string{"stream_id": r.stream.id, "state": r.state}
		r.mu.Unlock()
		status, err := r.call(ctx, http.MethodPost, r.meta.VerificationEndpoint, body, nil)
		if status != http.StatusTooManyRequests {
			return err
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.New("receiver: verification refused as too frequent")
}

// streamConfig is what the receiver reads of a stream's configuration.
type streamConfig struct {
	StreamID string `json:"stream_id"`
	Iss      string `json:"iss"`
	Aud      string `json:"aud"`
	Delivery struct {
		Method      string `json:"method"`
		EndpointURL string `json:"endpoint_url"`
	} `json:"delivery"`
	Description       string `json:"description"`
	InactivityTimeout int64  `json:"inactivity_timeout"`
}

// discover reads the transmitter's metadata. SSF 1.0 §7.2 puts it between
// the host and the issuer's path (https://host/.well-known/ssf-configuration/auth
// for https://host/auth); a Latchkey mounted under a path serves it below
// the path too, so both are tried. Neither answering 404 is a permanent
// error (no transmitter there, or SSF=off).
func (r *Receiver) discover(ctx context.Context) (metadata, error) {
	urls := []string{r.o.Issuer + "/.well-known/ssf-configuration"}
	if u, err := url.Parse(r.o.Issuer); err == nil && u.Path != "" && u.Path != "/" {
		p := u.Path
		u.Path = "/.well-known/ssf-configuration" + p
		urls = []string{u.String(), urls[0]}
	}
	for _, u := range urls {
		var m metadata
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return metadata{}, &permanentError{err}
		}
		status, err := r.do(req, &m)
		if status == http.StatusNotFound {
			continue
		}
		return m, err
	}
	return metadata{}, &permanentError{fmt.Errorf("receiver: no SSF transmitter at %s (is SSF on?)", r.o.Issuer)}
}

// getJSON GETs url, with the receiver credential, into out.
func (r *Receiver) getJSON(ctx context.Context, url string, out any) (int, error) {
	return r.call(ctx, http.MethodGet, url, nil, out)
}

// call sends a request with the receiver credential and a JSON body (none
// when nil), and decodes a JSON answer into out (when not nil).
func (r *Receiver) call(ctx context.Context, method, url string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, &permanentError{err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+r.o.Credential)
	return r.do(req, out)
}

// do sends req and decodes a 2xx JSON answer into out. A 401 or 403 is a
// permanentError; other failures may be retried.
func (r *Receiver) do(req *http.Request, out any) (int, error) {
	req.Header.Set("Accept", "application/json")
	resp, err := r.o.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("receiver: %s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("receiver: %s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		err := fmt.Errorf("receiver: %s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, bytes.TrimSpace(b[:min(len(b), 200)]))
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return resp.StatusCode, &permanentError{err}
		}
		return resp.StatusCode, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("receiver: %s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	return resp.StatusCode, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
