package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// exchange is one request the browser made to Latchkey and its answer, as
// the recorder in front of Latchkey saw them.
type exchange struct {
	At          time.Time
	Method      string
	Path        string
	BearerSID   string         // the session of the Authorization header's access token, if any
	ContentType string         // the request's
	Req         map[string]any // the JSON body, if any
	Status      int
	Resp        map[string]any // the JSON answer, if any
}

// refresh reports whether ex is a refresh at the login URL.
func (ex exchange) refresh() bool {
	return ex.Method == http.MethodPost && ex.Path == "/auth/login" && str(ex.Req, "grant_type") == "refresh_token"
}

// str returns a string field of a JSON body.
func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// recorder is the browser's way to Latchkey: a pass-through proxy that
// keeps every exchange, so the test sees exactly what the library sent and
// what Latchkey answered. hold delays the refreshes of one refresh token
// until n of them have arrived (two tabs refreshing at the same moment),
// as a slow network would.
type recorder struct {
	target string
	client *http.Client

	mu    sync.Mutex
	log   []exchange
	holds map[string]*hold // by refresh token
}

type hold struct {
	want    int
	arrived int
	all     chan struct{} // closed when want have arrived
}

func newRecorder(target string) *recorder {
	return &recorder{target: target, client: &http.Client{Timeout: 10 * time.Second}, holds: map[string]*hold{}}
}

// holdRefreshes makes refreshes of rt wait until n have arrived or
// maxWait has passed, whichever is first.
func (rec *recorder) holdRefreshes(rt string, n int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.holds[rt] = &hold{want: n, all: make(chan struct{})}
}

func (rec *recorder) exchanges() []exchange {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]exchange(nil), rec.log...)
}

const holdMaxWait = 4 * time.Second

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ex := exchange{At: time.Now(), Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type")}
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		ex.BearerSID = str(jwtClaims(bearer), "sid")
	}
	_ = json.Unmarshal(body, &ex.Req)
	if ex.refresh() {
		rec.mu.Lock()
		h := rec.holds[str(ex.Req, "refresh_token")]
		if h != nil {
			if h.arrived++; h.arrived == h.want {
				close(h.all)
			}
		}
		rec.mu.Unlock()
		if h != nil {
			select {
			case <-h.all:
			case <-time.After(holdMaxWait):
			}
		}
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, rec.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := rec.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	ex.Status = resp.StatusCode
	_ = json.Unmarshal(answer, &ex.Resp)
	rec.mu.Lock()
	rec.log = append(rec.log, ex)
	rec.mu.Unlock()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// jwtClaims returns the payload of a JWT without verifying it (Latchkey
// signed it; the test only reads sid, gen and client_id), or nil.
func jwtClaims(jwt string) map[string]any {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var c map[string]any
	if json.Unmarshal(raw, &c) != nil {
		return nil
	}
	return c
}

// sidOf is the session id of a Latchkey token.
func sidOf(jwt string) string { return str(jwtClaims(jwt), "sid") }

// last returns the latest exchange of method and path for which match
// holds (the cases run in parallel through one recorder), failing the test
// if there is none.
func (rec *recorder) last(t *testing.T, method, path string, match func(exchange) bool) exchange {
	t.Helper()
	log := rec.exchanges()
	for i := len(log) - 1; i >= 0; i-- {
		if log[i].Method == method && log[i].Path == path && match(log[i]) {
			return log[i]
		}
	}
	t.Fatalf("the browser sent no such %s %s", method, path)
	return exchange{}
}

// withEmail and withBearer are matches for last.
func withEmail(email string) func(exchange) bool {
	return func(ex exchange) bool { return str(ex.Req, "email") == email }
}

func withBearer(sid string) func(exchange) bool {
	return func(ex exchange) bool { return ex.BearerSID == sid }
}

// refreshes returns the refreshes of session sid at the login URL, in the
// order they were answered.
func (rec *recorder) refreshes(sid string) []exchange {
	var out []exchange
	for _, ex := range rec.exchanges() {
		if ex.refresh() && sidOf(str(ex.Req, "refresh_token")) == sid {
			out = append(out, ex)
		}
	}
	return out
}

func postJSON(t *testing.T, url string, body any, bearer string) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pageStep)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}
