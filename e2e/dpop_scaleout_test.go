package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey-dev/latchkey/dpop"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// dpopCall sends a JSON request with a DPoP proof (and, when at is set, the
// access token with the DPoP scheme).
func dpopCall(t *testing.T, c *http.Client, method, url string, body any, at, proof string) *reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if at != "" {
		req.Header.Set("Authorization", "DPoP "+at)
	}
	req.Header.Set("DPoP", proof)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	json.Unmarshal(raw, &r.body)
	return r
}

// TestDPoPAcrossInstances: the real binary, two instances on one
// PostgreSQL database with DPOP_NONCE=on. A nonce issued by A is accepted
// by B (one secret in the database); a proof accepted by A is refused by B
// as a replay, with the session row unchanged; B serves the key holder.
func TestDPoPAcrossInstances(t *testing.T) {
	dbURL := pgtest.FreshDatabase(t)
	settings := scaleOutSettings(dbURL, "10s")
	settings["DPOP_NONCE"] = "on"
	a, b := startPair(t, settings)
	c := &http.Client{Timeout: 10 * time.Second}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const public = "https://auth.example.test" // PUBLIC_URL: the htu of every proof
	proof := func(method, path, nonce, at string) string {
		p, err := dpop.NewProof(key, method, public+path, dpop.ProofOptions{Nonce: nonce, AccessToken: at})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cred := map[string]string{"email": "dpop@example.com", "password": password}
	mustCall(t, c, "POST", a.URL+"/auth/sign-up", cred, "", http.StatusCreated)

	r := dpopCall(t, c, "POST", a.URL+"/auth/sign-in", cred, "", proof("POST", "/auth/sign-in", "", ""))
	nonce := r.header.Get("DPoP-Nonce")
	if r.status != http.StatusBadRequest || r.str("error") != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("sign-in without a nonce at A: %d %s", r.status, r.raw)
	}
	// A's nonce, at B.
	r = dpopCall(t, c, "POST", b.URL+"/auth/sign-in", cred, "", proof("POST", "/auth/sign-in", nonce, ""))
	if r.status != http.StatusOK || r.str("tokenType") != "DPoP" {
		t.Fatalf("sign-in at B with A's nonce: %d %s", r.status, r.raw)
	}
	rt := r.str("refreshToken")

	used := proof("POST", "/token", nonce, "")
	r = dpopCall(t, c, "POST", a.URL+"/token", map[string]string{"refreshToken": rt}, "", used)
	if r.status != http.StatusOK {
		t.Fatalf("refresh at A: %d %s", r.status, r.raw)
	}
	rt, at := r.str("refreshToken"), r.str("accessToken")

	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	row := func() string {
		var gen, last int64
		var revoked *int64
		var jkt string
		if err := conn.QueryRow(context.Background(), `SELECT generation, last_refreshed_at, revoked_at, jkt FROM latchkey.sessions`).
			Scan(&gen, &last, &revoked, &jkt); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal([]any{gen, last, revoked, jkt})
		return string(b)
	}
	before := row()
	r = dpopCall(t, c, "POST", b.URL+"/token", map[string]string{"refreshToken": rt}, "", used)
	if r.status != http.StatusBadRequest || r.str("error") != "invalid_dpop_proof" || r.str("reason") != "replay" {
		t.Fatalf("A's proof replayed at B: %d %s", r.status, r.raw)
	}
	if after := row(); after != before {
		t.Fatalf("the session changed: %s, was %s", after, before)
	}
	// The resource side: a proof used at B is refused at A.
	me := proof("GET", "/auth/me", nonce, at)
	if r := dpopCall(t, c, "GET", b.URL+"/auth/me", nil, at, me); r.status != http.StatusOK {
		t.Fatalf("/auth/me at B: %d %s", r.status, r.raw)
	}
	if r := dpopCall(t, c, "GET", a.URL+"/auth/me", nil, at, me); r.status != http.StatusUnauthorized || r.str("reason") != "replay" {
		t.Fatalf("/auth/me proof replayed at A: %d %s", r.status, r.raw)
	}
	// B serves the key holder with a fresh proof.
	r = dpopCall(t, c, "POST", b.URL+"/token", map[string]string{"refreshToken": rt}, "", proof("POST", "/token", nonce, ""))
	if r.status != http.StatusOK || r.str("tokenType") != "DPoP" {
		t.Fatalf("refresh at B with a fresh proof: %d %s", r.status, r.raw)
	}
}
