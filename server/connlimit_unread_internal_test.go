package server

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestConnLimitUnreadBodyStillWaiting: a handler that answers without
// reading the request's body (a refusal before the body matters: 401, 404,
// 405, a rate limit) leaves the server to read the rest of it before it
// answers (net/http discards up to 256 KiB). During that read the server
// waits for the client again: a client trickling its body in must stay
// closable for a new connection once it has waited waitGrace, as it is
// while a handler reads the body. Marking the connection serving when the
// handler returns let one client per slot hold the cap for the 30 s read
// timeout by sending a body a byte at a time to a route that ignores it.
func TestConnLimitUnreadBodyStillWaiting(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	srv := &http.Server{Handler: http.NotFoundHandler()} // never reads the body
	l := limitConnections(nil, srv, 1).(*connLimit)
	l.now = func() time.Time { return now }
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	l.track(a, http.StateNew)
	l.track(a, http.StateActive) // its headers are in

	r := httptest.NewRequest(http.MethodPost, "/nowhere", strings.NewReader(`{"trickled":`))
	r = r.WithContext(context.WithValue(r.Context(), connKey{}, net.Conn(a)))
	srv.Handler.ServeHTTP(httptest.NewRecorder(), r)

	now = t0.Add(time.Minute)
	if closed, _ := l.closeOldestWaiting(now); !closed {
		t.Fatal("a connection whose body the server still waits for, after its handler returned, cannot be closed for a new connection")
	}
}

// TestConnLimitReadBodyServing: a handler that read its body to the end
// is serving until the server marks the connection idle, even past
// waitGrace (it is not closed with its answer in flight).
func TestConnLimitReadBodyServing(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf [64]byte
		for {
			if _, err := r.Body.Read(buf[:]); err != nil {
				break
			}
		}
		now = now.Add(time.Minute) // a slow handler, after the body
	})}
	l := limitConnections(nil, srv, 1).(*connLimit)
	l.now = func() time.Time { return now }
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	l.track(a, http.StateNew)
	l.track(a, http.StateActive)
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
	r = r.WithContext(context.WithValue(r.Context(), connKey{}, net.Conn(a)))
	srv.Handler.ServeHTTP(httptest.NewRecorder(), r)
	if closed, _ := l.closeOldestWaiting(now); closed {
		t.Fatal("a connection whose body was read was closed before the server marked it idle")
	}
}
