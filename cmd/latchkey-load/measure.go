package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/latchkey-dev/latchkey/server"
)

// measurement is what one measured run found.
type measurement struct {
	r       *result
	elapsed time.Duration
	// flood is the sign-in flood's result (-signin-flood), or nil;
	// signupFlood the sign-up flood's (-signup-flood).
	flood, signupFlood *result
	// idle is the idle-connection flood (-idle-conns), or nil; idleOpen
	// how many of its connections were still open after the run.
	idle     *idleFlood
	idleOpen int
	// commits and commitWrites are the group commits of an in-process
	// SQLite store during the run, and the writes they carried.
	commits, commitWrites int64
	// selfCPU and serverCPU are the CPU time this process and the server's
	// process spent during the run.
	selfCPU, serverCPU time.Duration
	// pid is the server's process (0: unknown). rssPeak is its largest RSS
	// sampled during the run, hwm its peak since start (VmHWM).
	pid          int
	rssPeak, hwm uint64
	rssErr       error
}

// measure runs the warm-up, then the measured run (with the sign-in flood,
// the RSS sampler and the profiles it was asked for).
func measure(ctx context.Context, o options, client *http.Client, t *target, s *sessions) (*measurement, error) {
	m := &measurement{pid: t.pid}
	if o.idleConns > 0 {
		idle, err := openIdle(ctx, t.base, o.idleConns)
		if err != nil {
			return nil, err
		}
		defer idle.close()
		m.idle = idle
	}
	if o.warmup > 0 {
		runLoad(ctx, client, t.base, o.mode, o.c, o.warmup, s, 0)
	}
	var sampler *rssSampler
	if t.pid != 0 {
		sampler = sampleRSS(t.pid, 100*time.Millisecond)
	}
	stopCPUProfile, err := startCPUProfile(o.cpuProfile)
	if err != nil {
		return nil, err
	}
	floodDone := make(chan *result, 1)
	if o.flood > 0 {
		go func() {
			r, _ := runLoad(ctx, client, t.base, modeSignIn, o.flood, o.duration, s, 0)
			floodDone <- r
		}()
	}
	signupDone := make(chan *result, 1)
	if o.signupFlood > 0 {
		go func() {
			r, _ := runLoad(ctx, client, t.base, modeSignUp, o.signupFlood, o.duration, nil, 0)
			signupDone <- r
		}()
	}
	c0, w0 := batchStats(t.app)
	selfCPU0, _ := cpuTime(os.Getpid())
	serverCPU0, _ := cpuTime(t.pid)
	m.r, m.elapsed = runLoad(ctx, client, t.base, o.mode, o.c, o.duration, s, 0)
	c1, w1 := batchStats(t.app)
	selfCPU1, _ := cpuTime(os.Getpid())
	serverCPU1, _ := cpuTime(t.pid)
	m.commits, m.commitWrites = c1-c0, w1-w0
	m.selfCPU, m.serverCPU = selfCPU1-selfCPU0, serverCPU1-serverCPU0
	stopCPUProfile()
	if o.memProfile != "" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			return nil, err
		}
	}
	if o.flood > 0 {
		m.flood = <-floodDone
	}
	if o.signupFlood > 0 {
		m.signupFlood = <-signupDone
	}
	if m.idle != nil {
		m.idleOpen = m.idle.stillOpen()
	}
	if sampler != nil {
		m.rssPeak, m.rssErr = sampler.Stop()
		_, m.hwm, _ = memStatus(t.pid)
	}
	return m, nil
}

// report prints the measurement.
func (m *measurement) report(w io.Writer, o options) {
	fmt.Fprintf(w, "mode %s, C=%d, %d sessions (%s), GOMAXPROCS=%d, %s\n", o.mode, o.c, o.sessions,
		map[bool]string{true: "seeded through the store", false: "signed in through the API"}[o.seed],
		runtime.GOMAXPROCS(0), map[bool]string{true: "server in this process", false: "external server"}[o.serve])
	m.r.report(w, o.mode, m.elapsed)
	if o.serve && m.commits > 0 {
		fmt.Fprintf(w, "  SQLite group commits: %d (%.0f/s), %.1f writes each\n", m.commits, float64(m.commits)/m.elapsed.Seconds(),
			float64(m.commitWrites)/float64(m.commits))
	}
	if m.flood != nil {
		m.flood.report(w, fmt.Sprintf("signin flood (%d workers)", o.flood), o.duration)
	}
	if m.signupFlood != nil {
		m.signupFlood.report(w, fmt.Sprintf("signup flood (%d workers, one address)", o.signupFlood), o.duration)
	}
	if m.idle != nil {
		m.idle.report(w, m.idleOpen)
	}
	cores := func(d time.Duration) float64 { return d.Seconds() / m.elapsed.Seconds() }
	if o.serve {
		fmt.Fprintf(w, "CPU: this process (server and load generator) %.2f cores\n", cores(m.selfCPU))
	} else if m.pid != 0 {
		fmt.Fprintf(w, "CPU: server %.2f cores, load generator %.2f cores (of %d)\n", cores(m.serverCPU),
			cores(m.selfCPU), runtime.NumCPU())
	}
	if m.pid != 0 {
		who := "server (pid " + fmt.Sprint(m.pid) + ")"
		if o.serve {
			who = "this process (server and load generator together)"
		}
		if m.rssErr != nil {
			fmt.Fprintf(w, "RSS of %s: %v\n", who, m.rssErr)
		} else {
			fmt.Fprintf(w, "RSS of %s: max %s during the run; peak since start (VmHWM) %s\n", who, mib(m.rssPeak), mib(m.hwm))
		}
	}
}

// batchStats reads the group-commit counters of an in-process SQLite store.
func batchStats(app *server.App) (commits, writes int64) {
	if app == nil {
		return 0, 0
	}
	if db, ok := app.Store.(interface{ BatchStats() (int64, int64) }); ok {
		return db.BatchStats()
	}
	return 0, 0
}

// startCPUProfile writes a CPU profile of this process to path ("": none)
// until the function it returns is called.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// writeHeapProfile writes this process's allocation profile to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}
