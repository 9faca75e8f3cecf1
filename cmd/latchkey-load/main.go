// Command latchkey-load measures a Latchkey server on this machine: it signs
// in (or seeds) sessions, then runs C concurrent workers for a fixed time,
// each following its own refresh-token rotation chains, and prints
// requests/s, latency quantiles, errors by status and the server's RSS.
//
// It talks to loopback addresses only and is bounded in time (-duration, at
// most 2m) and size (-sessions, at most 2,000,000). docs/performance.md has
// the figures it produced and the commands that reproduce them.
//
// Two set-ups:
//
//	latchkey-load -serve -database-url sqlite:///tmp/l.db -mode refresh
//	    starts the server in this process on 127.0.0.1:0; the RSS printed
//	    is this process's (server and load generator together).
//	latchkey-load -url http://127.0.0.1:8080 -server-pid $PID -mode refresh
//	    drives a server started elsewhere (latchkey serve, or
//	    latchkey-load -serve -hold); the RSS printed is the server's alone.
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // only on the -pprof listener (DefaultServeMux); never on the API
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

const (
	maxDuration = 2 * time.Minute
	maxSessions = 2_000_000
	maxWorkers  = 1024
)

type options struct {
	url         string
	serve       bool
	hold        bool
	databaseURL string
	serverPID   int
	serverLog   string
	mode        string
	dpopAlg     string
	dpopPresign int
	c           int
	duration    time.Duration
	warmup      time.Duration
	sessions    int
	seed        bool
	perUser     int
	pprofAddr   string
	cpuProfile  string
	memProfile  string
	flood       int
	signupFlood int
	idleConns   int
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "latchkey-load:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("latchkey-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "", "base URL of a running server (loopback only)")
	fs.BoolVar(&o.serve, "serve", false, "start the server in this process on 127.0.0.1:0 (settings from the environment, RATE_LIMITS=off)")
	fs.BoolVar(&o.hold, "hold", false, "with -serve: seed (if asked), print the URL and PID, then serve until SIGINT without generating load")
	fs.StringVar(&o.databaseURL, "database-url", os.Getenv("DATABASE_URL"), "DATABASE_URL of the server (for -serve, and for -seed-sessions with -url)")
	fs.IntVar(&o.serverPID, "server-pid", 0, "with -url: PID of the server, whose RSS is reported")
	fs.StringVar(&o.serverLog, "server-log", os.DevNull, "with -serve: file the server's logs (access log included) are written to")
	fs.StringVar(&o.mode, "mode", modeRefresh, "one of "+strings.Join(modes, ", "))
	fs.IntVar(&o.dpopPresign, "dpop-presign", 0, "with -mode dpop: proofs each worker signs before the run and spends first (then it signs as it goes), so that the run measures the server's work, not this process's signing on the same CPUs; warm-up plus run must then end within the proofs' 60 s window")
	fs.StringVar(&o.dpopAlg, "dpop-alg", "ES256", "with -mode dpop: the workers' key type, ES256 (ECDSA P-256, what browsers' WebCrypto offers everywhere) or EdDSA (Ed25519)")
	fs.IntVar(&o.c, "c", 32, "concurrent workers (connections)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured run time (at most 2m)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured run before the measured one (connections, caches, JIT of the SQLite wasm)")
	fs.IntVar(&o.sessions, "sessions", 0, "sessions to rotate (default: -c); at most 2,000,000")
	fs.BoolVar(&o.seed, "seed-sessions", false, "insert the sessions through the store and mint their tokens with the server's issuer (same database, same secret) instead of signing in through the API")
	fs.IntVar(&o.perUser, "sessions-per-user", 2, "sessions per user")
	fs.StringVar(&o.pprofAddr, "pprof", "", "with -serve: serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6060)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process during the measured run")
	fs.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile of this process after the measured run")
	fs.IntVar(&o.flood, "signin-flood", 0, "extra workers signing in (argon2id) during the measured run, reported separately")
	fs.IntVar(&o.signupFlood, "signup-flood", 0, "extra workers signing up new accounts, from this one address, during the measured run, reported separately")
	fs.IntVar(&o.idleConns, "idle-conns", 0, "connections opened before the warm-up, each with one request (GET /healthz), then held idle through the measured run; how many the server kept open is reported")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.serve == (o.url != ""):
		return o, errors.New("give exactly one of -serve and -url")
	case o.hold && !o.serve:
		return o, errors.New("-hold needs -serve")
	case !slices.Contains(modes, o.mode):
		return o, fmt.Errorf("-mode %q: want one of %s", o.mode, strings.Join(modes, ", "))
	case o.c < 1 || o.c > maxWorkers:
		return o, fmt.Errorf("-c %d: want 1..%d", o.c, maxWorkers)
	case o.duration <= 0 || o.duration > maxDuration:
		return o, fmt.Errorf("-duration %s: want more than 0 and at most %s", o.duration, maxDuration)
	case o.warmup < 0 || o.warmup > maxDuration:
		return o, fmt.Errorf("-warmup %s: want 0..%s", o.warmup, maxDuration)
	case o.sessions < 0 || o.sessions > maxSessions:
		return o, fmt.Errorf("-sessions %d: want 0..%d", o.sessions, maxSessions)
	case o.perUser < 1:
		return o, errors.New("-sessions-per-user must be at least 1")
	case o.flood < 0 || o.flood > maxWorkers:
		return o, fmt.Errorf("-signin-flood %d: want 0..%d", o.flood, maxWorkers)
	case o.dpopPresign < 0 || o.dpopPresign > 0 && (o.mode != modeDPoP || o.warmup+o.duration > 50*time.Second):
		return o, errors.New("-dpop-presign: only with -mode dpop, and -warmup plus -duration at most 50s (a proof is accepted for 60 s after it is signed)")
	case o.signupFlood < 0 || o.signupFlood > maxWorkers:
		return o, fmt.Errorf("-signup-flood %d: want 0..%d", o.signupFlood, maxWorkers)
	case o.idleConns < 0 || o.idleConns > maxIdleConns:
		return o, fmt.Errorf("-idle-conns %d: want 0..%d", o.idleConns, maxIdleConns)
	case o.serve && o.databaseURL == "":
		return o, errors.New("-serve needs -database-url (or DATABASE_URL)")
	case o.seed && o.databaseURL == "":
		return o, errors.New("-seed-sessions needs -database-url (or DATABASE_URL): the sessions are written to the server's database")
	}
	if o.sessions == 0 {
		o.sessions = o.c
	}
	if o.url != "" {
		if err := loopbackURL(o.url); err != nil {
			return o, err
		}
		o.url = strings.TrimSuffix(o.url, "/")
	}
	if o.pprofAddr != "" {
		if err := loopbackHost(o.pprofAddr); err != nil {
			return o, fmt.Errorf("-pprof: %w", err)
		}
	}
	return o, nil
}

// loopbackURL refuses anything but http(s) to a loopback address: this tool
// is a load generator and must not be pointed at someone else's server.
func loopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("-url %q: want http:// or https://", raw)
	}
	if err := loopbackHost(u.Host); err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	return nil
}

func loopbackHost(hostport string) error {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not a loopback address (127.0.0.0/8, ::1, localhost)", host)
}

// run is the whole tool: the server (started here with -serve), the
// sessions to rotate, the measured run, and its report.
func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	env := environ()
	t := &target{base: o.url, pid: o.serverPID}
	if o.serve {
		closeServer, err := serveInProcess(ctx, o, env, t, stdout, stderr)
		if err != nil {
			return err
		}
		defer closeServer()
	}
	client := newClient(o.c + o.flood + o.signupFlood)
	if err := waitReady(ctx, client, t.base); err != nil {
		return err
	}
	s, closeSeeder, err := prepare(ctx, o, env, client, t, stdout)
	if err != nil {
		return err
	}
	defer closeSeeder()
	if o.dpopPresign > 0 {
		t0 := time.Now()
		if err := s.presign(http.MethodPost, t.base+"/token", o.dpopPresign); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "signed %d DPoP proofs per worker before the run in %s\n", o.dpopPresign, time.Since(t0).Round(time.Millisecond))
	}
	if o.hold {
		fmt.Fprintf(stdout, "holding: serving %s until SIGINT\n", t.base)
		<-ctx.Done()
		return nil
	}
	m, err := measure(ctx, o, client, t, s)
	if err != nil {
		return err
	}
	m.report(stdout, o)
	return nil
}

// prepare makes the sessions the run rotates: seeded through the store
// (-seed-sessions; for an external server, through an app of its own on the
// server's database, which the returned function closes), or signed in
// through the API. It then reports the database's size.
func prepare(ctx context.Context, o options, env map[string]string, client *http.Client, t *target,
	stdout io.Writer) (*sessions, func(), error) {
	closeSeeder := func() {}
	var s *sessions
	var err error
	prefix := randomPrefix()
	var keys []crypto.Signer
	var jkts []string
	if o.mode == modeDPoP {
		if keys, jkts, err = newKeys(o.c, o.dpopAlg); err != nil {
			return nil, nil, err
		}
	}
	switch {
	case o.seed:
		if t.app == nil {
			issuer, err := discoverIssuer(ctx, client, t.base)
			if err != nil {
				return nil, nil, err
			}
			env["DATABASE_URL"] = o.databaseURL
			env["JWT_ISSUER"] = issuer
			seeder, err := openApp(ctx, env, io.Discard, false)
			if err != nil {
				return nil, nil, err
			}
			t.app, closeSeeder = seeder, func() { seeder.Close() }
		}
		s, err = seedStore(ctx, t.app.Store, t.app.Tokens, t.app.Service.Policy(), o.sessions, o.perUser, 64, prefix, keys, jkts, stdout)
	case o.mode != modeCeiling && !o.hold:
		s, err = signInAll(ctx, client, t.base, o.sessions, o.perUser, 2*runtime.GOMAXPROCS(0), prefix, keys, jkts, stdout)
	}
	if err != nil {
		closeSeeder()
		return nil, nil, err
	}
	if o.databaseURL != "" {
		reportDBSize(ctx, stdout, o.databaseURL, o.sessions)
	}
	return s, closeSeeder, nil
}

func environ() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func newClient(conns int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func waitReady(ctx context.Context, c *http.Client, base string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s/readyz: not ready: %v", base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// discoverIssuer reads the issuer of an external server from its RFC 8414
// metadata, so tokens minted here carry the iss it checks.
func discoverIssuer(ctx context.Context, c *http.Client, base string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/.well-known/oauth-authorization-server", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var m struct {
		Issuer string `json:"issuer"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || m.Issuer == "" {
		return "", fmt.Errorf("issuer from %s metadata (needs the oauth2 dialect): %v", base, err)
	}
	return m.Issuer, nil
}

func randomPrefix() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

func redactDB(u string) string {
	if p, err := url.Parse(u); err == nil && p.User != nil {
		p.User = url.User(p.User.Username())
		return p.String()
	}
	return u
}
