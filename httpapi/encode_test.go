package httpapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/httpapi"
)

func TestWriteJSON(t *testing.T) {
	srv := serve(t, httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		httpapi.NoStore(w)
		return httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"access_token": "a<b", "expires_in": 900})
	}, nil))
	res := do(t, srv, "GET", "/", "", nil)
	if res.Status != 201 {
		t.Fatalf("status %d", res.Status)
	}
	for k, want := range map[string]string{
		"Content-Type":  "application/json",
		"Cache-Control": "no-store",
		"Pragma":        "no-cache",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(res.Body), &got); err != nil || got["access_token"] != "a<b" {
		t.Fatalf("body %q: %v", res.Body, err)
	}
}

func TestWriteJSONFailureLeavesResponseUnwritten(t *testing.T) {
	srv := serve(t, httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"c": make(chan int)})
	}, nil))
	res := do(t, srv, "GET", "/", "", nil)
	if code, msg := errorBody(t, res); res.Status != 500 || code != "internal_error" || msg != "internal error" {
		t.Fatalf("%d %q %q", res.Status, code, msg)
	}
}

func TestWriteRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                   "1",
		0:                              "1",
		time.Nanosecond:                "1",
		time.Second:                    "1",
		time.Second + time.Millisecond: "2",
		90 * time.Second:               "90",
		time.Hour:                      "3600",
	} {
		h := http.Header{}
		httpapi.WriteRetryAfter(h, d)
		if got := h.Get("Retry-After"); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

// discard is a ResponseWriter that costs nothing, so the benchmark measures
// WriteJSON alone.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

var benchToken = tokenResponse{
	AccessToken:  "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0.eyJpc3MiOiJodHRwOi8vbG9jYWxob3N0OjgwODAiLCJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
	TokenType:    "Bearer",
	ExpiresIn:    900,
	RefreshToken: "eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiJhYmMiLCJnZW4iOjF9.c2ln",
}

// BenchmarkWriteJSON is the hot path: one token response.
func BenchmarkWriteJSON(b *testing.B) {
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		if err := httpapi.WriteJSON(w, http.StatusOK, &benchToken); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshalThenWrite is the obvious alternative, for comparison: it
// copies the encoded body once more.
func BenchmarkMarshalThenWrite(b *testing.B) {
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		body, err := json.Marshal(&benchToken)
		if err != nil {
			b.Fatal(err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	}
}

func TestWriteJSONThroughRecorder(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := httpapi.WriteJSON(rec, 418, []int{1}); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 418 || rec.Body.String() != "[1]\n" {
		t.Fatalf("%d %q", rec.Code, rec.Body.String())
	}
	if err := httpapi.WriteJSON(httptest.NewRecorder(), 200, func() {}); err == nil || errors.Is(err, nil) {
		t.Fatal("expected an encoding error")
	}
}
