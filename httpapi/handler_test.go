package httpapi_test

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/httpapi"
)

func TestHandleWritesErrorOnlyIfNothingWritten(t *testing.T) {
	var calls int
	ew := func(w http.ResponseWriter, r *http.Request, err error) {
		calls++
		httpapi.WriteError(w, r, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/fail", httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("X-Set-Before", "1")
		return &httpapi.Error{Status: 429, Code: "too_many_requests", Message: "slow down",
			Cause: errors.New("secret cause"), Header: http.Header{"Retry-After": {"7"}}}
	}, ew))
	mux.Handle("/late", httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, "partial")
		return errors.New("failed after writing")
	}, ew))
	mux.Handle("/unknown", httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return errors.New("db password is hunter2")
	}, nil))
	srv := serve(t, mux)

	res := do(t, srv, "GET", "/fail", "", nil)
	code, msg := errorBody(t, res)
	if res.Status != 429 || code != "too_many_requests" || msg != "slow down" || res.Header.Get("Retry-After") != "7" {
		t.Fatalf("%d %q %q %v", res.Status, code, msg, res.Header)
	}
	if strings.Contains(res.Body, "secret") {
		t.Fatal("cause leaked into the body")
	}

	res = do(t, srv, "GET", "/late", "", nil)
	if res.Status != 202 || res.Body != "partial" || calls != 1 {
		t.Fatalf("late error: %d %q, ErrorWriter called %d times", res.Status, res.Body, calls)
	}

	res = do(t, srv, "GET", "/unknown", "", nil)
	code, msg = errorBody(t, res)
	if res.Status != 500 || code != "internal_error" || msg != "internal error" || strings.Contains(res.Body, "hunter2") {
		t.Fatalf("unknown error: %d %q", res.Status, res.Body)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("500 may be cached")
	}
}

func TestErrorUnwrap(t *testing.T) {
	cause := errors.New("cause")
	e := httpapi.InvalidRequest("bad", cause)
	if !errors.Is(e, cause) || e.Status != 400 || e.Code != "invalid_request" {
		t.Fatalf("%+v", e)
	}
	if got := e.Error(); got != "invalid_request: bad: cause" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestStatusRecorderFlushesThroughResponseController(t *testing.T) {
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httpapi.NewStatusRecorder(w)
		if httpapi.NewStatusRecorder(rec) != rec {
			t.Error("recorders stacked")
		}
		fmt.Fprint(rec, "first\n")
		if err := http.NewResponseController(rec).Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
		if _, ok := any(rec).(http.Flusher); !ok {
			t.Error("not an http.Flusher")
		}
		<-r.Context().Done() // hold the response open until the client has read the flushed line
	}))
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if err != nil || line != "first\n" {
		t.Fatalf("read %q, %v: the flush did not reach the client", line, err)
	}
}

func TestStatusRecorderCounts(t *testing.T) {
	got := make(chan [3]int64, 1)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httpapi.NewStatusRecorder(w)
		fresh := rec.Written()
		rec.WriteHeader(http.StatusEarlyHints) // informational: not the final status
		early := rec.Written()
		rec.Write([]byte("hello"))
		got <- [3]int64{int64(rec.Status()), rec.Bytes(), map[bool]int64{false: 0, true: 1}[fresh || early]}
	}))
	do(t, srv, "GET", "/", "", nil)
	if g := <-got; g != [3]int64{200, 5, 0} {
		t.Fatalf("status, bytes, written-too-early = %v, want [200 5 0]", g)
	}
}
