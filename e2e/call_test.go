package e2e

// This file holds the JSON call helpers of the end-to-end tests; starting the
// real binary is e2e/e2etest's job.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// reply is a decoded JSON response.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// str returns the string field k of the body ("" if absent).
func (r *reply) str(k string) string { s, _ := r.body[k].(string); return s }

// call sends a JSON request with an optional bearer token through client
// and decodes the answer. A transport error is returned, not fatal: the
// kill test expects some.
func call(client *http.Client, method, url string, body any, bearer string) (*reply, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			return nil, fmt.Errorf("decode %s: %w", raw, err)
		}
	}
	return r, nil
}

// mustCall is call for steps that must get an answer with status want.
func mustCall(t *testing.T, client *http.Client, method, url string, body any, bearer string, want int) *reply {
	t.Helper()
	r, err := call(client, method, url, body, bearer)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if r.status != want {
		t.Fatalf("%s %s: %d %s; want %d", method, url, r.status, r.raw, want)
	}
	return r
}
