package main

import (
	"bufio"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// hist is a log-linear latency histogram in microseconds: exact below 64 µs,
// then 64 buckets per power of two (under 1.6% error), so a worker records a
// request with one increment and no allocation, however long the run.
type hist struct {
	counts [64 + 40*64]uint64
	n      uint64
	max    time.Duration
}

func bucketOf(us uint64) int {
	if us < 64 {
		return int(us)
	}
	e := bits.Len64(us) - 7 // us>>e is in [64, 128)
	return 64 + e*64 + int(us>>e) - 64
}

// lowerBound is the smallest value in bucket i, in microseconds.
func lowerBound(i int) uint64 {
	if i < 64 {
		return uint64(i)
	}
	e := (i - 64) / 64
	return uint64((i-64)%64+64) << e
}

func (h *hist) add(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	i := min(bucketOf(us), len(h.counts)-1)
	h.counts[i]++
	h.n++
	h.max = max(h.max, d)
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the upper edge of the bucket holding the q-th request.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(lowerBound(i+1))*time.Microsecond, h.max)
		}
	}
	return h.max
}

// result is what one worker measured.
type result struct {
	h      hist
	ok     uint64
	status map[int]uint64 // non-2xx responses by status; 0 is a transport error
	errs   map[string]uint64
}

func newResult() *result { return &result{status: map[int]uint64{}, errs: map[string]uint64{}} }

func (r *result) merge(o *result) {
	r.h.merge(&o.h)
	r.ok += o.ok
	for k, v := range o.status {
		r.status[k] += v
	}
	for k, v := range o.errs {
		r.errs[k] += v
	}
}

func (r *result) failures() uint64 {
	var n uint64
	for _, v := range r.status {
		n += v
	}
	return n
}

// report prints one run's figures.
func (r *result) report(w io.Writer, label string, elapsed time.Duration) {
	total := r.h.n
	fmt.Fprintf(w, "%s: %d requests in %.2fs = %.0f req/s (%d ok, %d failed)\n", label, total, elapsed.Seconds(),
		float64(total)/elapsed.Seconds(), r.ok, r.failures())
	fmt.Fprintf(w, "  latency p50 %s  p90 %s  p99 %s  max %s\n", ms(r.h.quantile(0.50)), ms(r.h.quantile(0.90)),
		ms(r.h.quantile(0.99)), ms(r.h.max))
	if len(r.status) > 0 {
		codes := make([]int, 0, len(r.status))
		for c := range r.status {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		var b strings.Builder
		for _, c := range codes {
			name := strconv.Itoa(c)
			if c == 0 {
				name = "transport"
			}
			fmt.Fprintf(&b, " %s=%d", name, r.status[c])
		}
		fmt.Fprintf(w, "  errors by status:%s\n", b.String())
		for e, n := range r.errs {
			fmt.Fprintf(w, "    %dx %s\n", n, e)
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// memStatus reads VmRSS and VmHWM (peak RSS) of a process from
// /proc/<pid>/status, in bytes.
func memStatus(pid int) (rss, hwm uint64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	return rss, hwm, sc.Err()
}

// rssSampler records the largest RSS of pid seen while it runs.
type rssSampler struct {
	pid  int
	max  uint64
	err  error
	stop chan struct{}
	done chan struct{}
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			rss, _, err := memStatus(pid)
			if err != nil {
				s.err = err
				return
			}
			s.max = max(s.max, rss)
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) Stop() (uint64, error) {
	close(s.stop)
	<-s.done
	return s.max, s.err
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// cpuTime returns the user+system CPU time a process has used, from
// /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s).
func cpuTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; count from its ')'.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return time.Duration(u+k) * 10 * time.Millisecond, nil
}
