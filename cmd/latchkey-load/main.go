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
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // only on the -pprof listener (DefaultServeMux); never on the API
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/server"
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

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	env := environ()
	base, pid := o.url, o.serverPID
	var app *server.App
	if o.serve {
		env["DATABASE_URL"] = o.databaseURL
		env["RATE_LIMITS"] = "off" // every request comes from 127.0.0.1
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		base, pid = "http://"+ln.Addr().String(), os.Getpid()
		if _, ok := env["PUBLIC_URL"]; !ok {
			env["PUBLIC_URL"] = base
		}
		logf, err := os.OpenFile(o.serverLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer logf.Close()
		if app, err = openApp(ctx, env, logf, true); err != nil {
			ln.Close()
			return err
		}
		defer app.Close()
		// The same runtime settings as `latchkey serve`.
		server.TuneRuntime(app.Config.HashConcurrency(), password.Default)
		errc := make(chan error, 1)
		sctx, cancel := context.WithCancel(ctx)
		defer func() { cancel(); <-errc }()
		go func() { errc <- server.ServeListener(sctx, app, ln) }()
		fmt.Fprintf(stdout, "serving %s in process %d (database %s)\n", base, pid, redactDB(o.databaseURL))
		if o.pprofAddr != "" {
			go func() {
				if err := http.ListenAndServe(o.pprofAddr, nil); err != nil {
					fmt.Fprintln(stderr, "pprof:", err)
				}
			}()
			fmt.Fprintf(stdout, "pprof on http://%s/debug/pprof/\n", o.pprofAddr)
		}
	}
	client := newClient(o.c + o.flood)
	if err := waitReady(ctx, client, base); err != nil {
		return err
	}

	var s *sessions
	prefix := randomPrefix()
	if o.seed {
		if app == nil {
			issuer, err := discoverIssuer(ctx, client, base)
			if err != nil {
				return err
			}
			env["DATABASE_URL"] = o.databaseURL
			env["JWT_ISSUER"] = issuer
			if app, err = openApp(ctx, env, io.Discard, false); err != nil {
				return err
			}
			defer app.Close()
		}
		s, err = seedStore(ctx, app.Store, app.Tokens, app.Service.Policy(), o.sessions, o.perUser, 64, prefix, stdout)
	} else if o.mode != modeCeiling && !o.hold {
		s, err = signInAll(ctx, client, base, o.sessions, o.perUser, 2*runtime.GOMAXPROCS(0), prefix, stdout)
	}
	if err != nil {
		return err
	}
	if o.databaseURL != "" {
		reportDBSize(ctx, stdout, o.databaseURL, o.sessions)
	}
	if o.hold {
		fmt.Fprintf(stdout, "holding: serving %s until SIGINT\n", base)
		<-ctx.Done()
		return nil
	}

	if o.warmup > 0 {
		runLoad(ctx, client, base, o.mode, o.c, o.warmup, s, 0)
	}
	var sampler *rssSampler
	if pid != 0 {
		sampler = sampleRSS(pid, 100*time.Millisecond)
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	floodDone := make(chan *result, 1)
	if o.flood > 0 {
		go func() {
			r, _ := runLoad(ctx, client, base, modeSignIn, o.flood, o.duration, s, 0)
			floodDone <- r
		}()
	}
	b0, w0 := batchStats(app)
	selfCPU0, _ := cpuTime(os.Getpid())
	serverCPU0, _ := cpuTime(pid)
	r, elapsed := runLoad(ctx, client, base, o.mode, o.c, o.duration, s, 0)
	b1, w1 := batchStats(app)
	selfCPU1, _ := cpuTime(os.Getpid())
	serverCPU1, _ := cpuTime(pid)
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if o.memProfile != "" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "mode %s, C=%d, %d sessions (%s), GOMAXPROCS=%d, %s\n", o.mode, o.c, o.sessions,
		map[bool]string{true: "seeded through the store", false: "signed in through the API"}[o.seed],
		runtime.GOMAXPROCS(0), map[bool]string{true: "server in this process", false: "external server"}[o.serve])
	r.report(stdout, o.mode, elapsed)
	if o.serve && b1 > b0 {
		fmt.Fprintf(stdout, "  SQLite group commits: %d (%.0f/s), %.1f writes each\n", b1-b0, float64(b1-b0)/elapsed.Seconds(),
			float64(w1-w0)/float64(b1-b0))
	}
	if o.flood > 0 {
		fr := <-floodDone
		fr.report(stdout, fmt.Sprintf("signin flood (%d workers)", o.flood), o.duration)
	}
	cores := func(d time.Duration) float64 { return d.Seconds() / elapsed.Seconds() }
	if o.serve {
		fmt.Fprintf(stdout, "CPU: this process (server and load generator) %.2f cores\n", cores(selfCPU1-selfCPU0))
	} else if pid != 0 {
		fmt.Fprintf(stdout, "CPU: server %.2f cores, load generator %.2f cores (of %d)\n", cores(serverCPU1-serverCPU0),
			cores(selfCPU1-selfCPU0), runtime.NumCPU())
	}
	if sampler != nil {
		peak, err := sampler.Stop()
		_, hwm, _ := memStatus(pid)
		who := "server (pid " + fmt.Sprint(pid) + ")"
		if o.serve {
			who = "this process (server and load generator together)"
		}
		if err != nil {
			fmt.Fprintf(stdout, "RSS of %s: %v\n", who, err)
		} else {
			fmt.Fprintf(stdout, "RSS of %s: max %s during the run; peak since start (VmHWM) %s\n", who, mib(peak), mib(hwm))
		}
	}
	return nil
}

// batchStats reads the group-commit counters of an in-process SQLite store.
func batchStats(app *server.App) (batches, writes int64) {
	if app == nil {
		return 0, 0
	}
	if db, ok := app.Store.(interface{ BatchStats() (int64, int64) }); ok {
		return db.BatchStats()
	}
	return 0, 0
}

// openApp opens and migrates the store and builds the app from a
// configuration loaded like `latchkey serve` loads its own.
func openApp(ctx context.Context, env map[string]string, logs io.Writer, migrate bool) (*server.App, error) {
	cfg, err := config.Load(nil, env)
	if err != nil {
		return nil, err
	}
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if migrate {
		if err := server.Migrate(ctx, st); err != nil {
			st.Close()
			return nil, err
		}
	}
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	var h slog.Handler = slog.NewJSONHandler(logs, opts)
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(logs, opts)
	}
	app, err := server.Open(ctx, cfg, st, server.Options{Logger: slog.New(h)})
	if err != nil {
		st.Close()
		return nil, err
	}
	return app, nil
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

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

func redactDB(u string) string {
	if p, err := url.Parse(u); err == nil && p.User != nil {
		p.User = url.User(p.User.Username())
		return p.String()
	}
	return u
}
