package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// front is the origin the SDK's test app is served from: the app's own
// files under /sdk-test/, and everything else passed on to the real
// latchkey serve behind it (one origin, as an app and its Latchkey share
// one behind a reverse proxy, so the refresh cookie reaches the page's
// requests). It watches the refreshes: every refresh credential the server
// answered (the refresh token of POST /token, the cookie of GET
// /api/refresh/refreshtoken) and the error code of every refused one. It
// can withhold the answer of one refresh from the browser (after the
// server has carried it out), and while the server is down it closes the
// browser's connection without an answer, as a stopped server does.
type front struct {
	srv *httptest.Server

	mu        sync.Mutex
	upstream  *url.URL
	answered  map[string]int // refresh credential -> answers from the server
	ok        int            // refreshes answered 200
	codes     map[string]int // error codes of refused refreshes
	stallNext bool           // withhold the next refresh's answer
	busy      int            // > 0: answer every refresh 503 with Retry-After busy (s), without passing it on
	refreshAt []time.Time    // when each refresh arrived
	stalled   chan struct{}  // closed when a refresh's answer is withheld
	release   chan struct{}  // closing it hands the withheld answer over
}

func startFront(t *testing.T, upstream string, lib []byte) *front {
	t.Helper()
	f := &front{}
	if upstream != "" { // else setUpstream before the first request
		f.setUpstream(t, upstream)
	}
	f.reset()
	files := map[string][]byte{"/sdk-test/latchkey.js": lib}
	for name, path := range map[string]string{"index.html": "/sdk-test/", "app.js": "/sdk-test/app.js"} {
		b, err := os.ReadFile(filepath.Join("testdata", "sdk", name))
		if err != nil {
			t.Fatal(err)
		}
		files[path] = b
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, ok := files[r.URL.Path]; ok {
			ct := "text/javascript; charset=utf-8"
			if strings.HasSuffix(r.URL.Path, "/") {
				ct = "text/html; charset=utf-8"
			}
			w.Header().Set("Content-Type", ct)
			w.Header().Set("Cache-Control", "no-store")
			w.Write(b)
			return
		}
		f.pass(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *front) setUpstream(t *testing.T, u string) {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.upstream = pu
	f.mu.Unlock()
}

// reset forgets what the front has counted.
func (f *front) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answered = map[string]int{}
	f.codes = map[string]int{}
	f.ok = 0
	f.refreshAt = nil
}

// setBusy makes the front answer every refresh itself with 503 and
// Retry-After: secs (0: pass them on again).
func (f *front) setBusy(secs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.busy = secs
}

// refreshTimes returns when each refresh since the last reset arrived.
func (f *front) refreshTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.refreshAt...)
}

// counts returns the refreshes answered 200, the refused ones by code, and
// the credentials the server answered more than once.
func (f *front) counts() (ok int, codes map[string]int, twice int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	codes = map[string]int{}
	for k, v := range f.codes {
		codes[k] = v
	}
	for _, n := range f.answered {
		if n > 1 {
			twice++
		}
	}
	return f.ok, codes, twice
}

// stallNextRefresh makes the front carry out the next refresh and withhold
// its answer until the returned release is called, then drop it (close the
// browser's connection); stalled is closed once that refresh has been
// carried out by the server.
func (f *front) stallNextRefresh() (stalled <-chan struct{}, release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stallNext = true
	f.stalled = make(chan struct{})
	f.release = make(chan struct{})
	rel := f.release
	return f.stalled, sync.OnceFunc(func() { close(rel) })
}

func (f *front) pass(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	refresh := r.URL.Path == "/token" || r.URL.Path == "/api/refresh/refreshtoken"
	cred := ""
	if refresh {
		if c, err := r.Cookie("refreshToken"); err == nil && r.Method == http.MethodGet {
			cred = "cookie:" + c.Value
		}
		var b struct{ RefreshToken string }
		if json.Unmarshal(body, &b) == nil && b.RefreshToken != "" {
			cred = "body:" + b.RefreshToken
		}
	}
	f.mu.Lock()
	up := *f.upstream
	busy := f.busy
	if refresh {
		f.refreshAt = append(f.refreshAt, time.Now())
	}
	f.mu.Unlock()
	if refresh && busy > 0 {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", strconv.Itoa(busy))
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":"temporarily_unavailable","message":"the database is unavailable"}`))
		return
	}
	// The request goes on even when the browser gives up on it (a closed
	// tab): the server carries it out, as it would behind a real proxy.
	out := r.Clone(context.WithoutCancel(r.Context()))
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = up.Scheme, up.Host
	out.Host = r.Host // the server sees the page's origin as its own
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		// The server is down: the browser sees the connection closed.
		hangUp(w)
		return
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if refresh {
		var stall bool
		var stalled, release chan struct{}
		f.mu.Lock()
		if cred != "" {
			f.answered[cred]++
		}
		if resp.StatusCode == http.StatusOK {
			f.ok++
		} else {
			var e struct{ Error string }
			json.Unmarshal(rb, &e)
			f.codes[e.Error]++
		}
		if f.stallNext {
			f.stallNext, stall = false, true
			stalled, release = f.stalled, f.release
		}
		f.mu.Unlock()
		if stall {
			// The answer is lost: the browser's connection is closed
			// without it once the test has closed the tab.
			close(stalled)
			<-release
			hangUp(w)
			return
		}
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(rb)
}

// hangUp closes the browser's connection without an answer.
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	http.Error(w, "no answer", http.StatusBadGateway)
}
