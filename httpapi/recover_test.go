package httpapi_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/internal/testkit"
)

func newLogger() (*slog.Logger, *testkit.Buffer) {
	b := new(testkit.Buffer)
	return slog.New(slog.NewJSONHandler(b, nil)), b
}

func TestRecover(t *testing.T) {
	logger, logs := newLogger()
	mux := http.NewServeMux()
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "refreshToken", Value: "half-issued"})
		panic("nil map in handler")
	})
	mux.HandleFunc("/late-panic", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		panic(errors.New("after writing"))
	})
	srv := serve(t, httpapi.Recover(logger)(mux))

	res := do(t, srv, "POST", "/panic?access_token=SECRET", "application/json",
		strings.NewReader(`{"password":"hunter2"}`), "Authorization", "Bearer SECRET")
	if res.Status != 500 {
		t.Fatalf("status %d", res.Status)
	}
	if res.Body != `{"error":"internal_error","message":"internal error"}`+"\n" {
		t.Fatalf("body %q", res.Body)
	}
	if res.Header.Get("Set-Cookie") != "" {
		t.Fatal("the cookie set before the panic was sent")
	}
	for _, leak := range []string{"goroutine", "nil map", ".go:", "SECRET", "hunter2"} {
		if strings.Contains(res.Body, leak) || strings.Contains(fmt.Sprint(res.Header), leak) {
			t.Errorf("response contains %q", leak)
		}
	}
	log := logs.String()
	if !strings.Contains(log, "nil map in handler") || !strings.Contains(log, `"path":"/panic"`) {
		t.Errorf("panic not logged: %s", log)
	}
	for _, leak := range []string{"SECRET", "hunter2"} {
		if strings.Contains(log, leak) {
			t.Errorf("log contains %q: %s", leak, log)
		}
	}

	// After the response has started, the client must see a broken
	// response, not a complete-looking one.
	resp, err := srv.Client().Get(srv.URL + "/late-panic")
	if err == nil {
		_, err = bytes.NewBuffer(nil).ReadFrom(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("a panic after the response started was not signalled to the client")
	}
	if !strings.Contains(logs.String(), "after writing") {
		t.Error("late panic not logged")
	}
}

func TestRecoverUsesDialectErrorWriter(t *testing.T) {
	logger, _ := newLogger()
	var got error
	ew := func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(599)
	}
	srv := serve(t, httpapi.Recover(logger, ew)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	})))
	res := do(t, srv, "GET", "/", "", nil)
	var e *httpapi.Error
	if res.Status != 599 || !errors.As(got, &e) || e.Status != 500 || e.Code != "internal_error" || !strings.Contains(e.Cause.Error(), "boom") {
		t.Fatalf("status %d, error %#v", res.Status, got)
	}
}

func TestRecoverPassesErrAbortHandler(t *testing.T) {
	logger, logs := newLogger()
	srv := serve(t, httpapi.Recover(logger)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	})))
	if _, err := srv.Client().Get(srv.URL); err == nil {
		t.Fatal("the aborted request completed")
	}
	if strings.Contains(logs.String(), "panic") {
		t.Fatalf("ErrAbortHandler logged as a panic: %s", logs)
	}
}
