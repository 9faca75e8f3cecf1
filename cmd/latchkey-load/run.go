package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey-dev/latchkey/dpop"
)

// The modes. ceiling is GET /healthz: a trivial JSON handler (httpapi.Handle
// + WriteJSON) behind the same middleware chain (access log, recover,
// security headers, CORS, body limit), in the same server, on the same
// connections. It does no auth, no database and no crypto, so every other
// mode's requests/s divided by ceiling's is the share of the machine's HTTP
// capacity it reaches.
const (
	modeRefresh = "refresh" // canonical POST /token, JSON
	modeDPoP    = "dpop"    // canonical POST /token of sessions bound to a DPoP key, a fresh proof each (RFC 9449)
	modeOAuth   = "oauth"   // POST /oauth/token grant_type=refresh_token, form
	modeSignIn  = "signin"  // canonical POST /auth/sign-in (argon2id)
	modeMe      = "me"      // GET /auth/me with a bearer access token
	modeSignOut = "signout" // canonical POST /auth/sign-out (scope local): each session once, a revocation each
	modeCeiling = "ceiling" // GET /healthz
	modeSignUp  = "signup"  // canonical POST /auth/sign-up of a new account (argon2id); only as -signup-flood
)

var modes = []string{modeRefresh, modeDPoP, modeOAuth, modeSignIn, modeMe, modeSignOut, modeCeiling}

// rotates reports whether mode follows refresh-token rotation chains.
func rotates(mode string) bool { return mode == modeRefresh || mode == modeDPoP || mode == modeOAuth }

// signUps numbers the accounts a sign-up flood asks for.
var signUps atomic.Int64

// runLoad runs c workers of mode until the deadline and merges their results.
func runLoad(ctx context.Context, client *http.Client, base, mode string, c int, d time.Duration, s *sessions, first int) (*result, time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	results := make([]*result, c)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		results[w] = newResult()
		wg.Go(func() { worker(ctx, client, base, mode, w, c, s, first, results[w]) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	total := newResult()
	for _, r := range results {
		total.merge(r)
	}
	return total, elapsed
}

// worker sends one request at a time. Worker w owns the sessions w+first,
// w+first+c, … (modulo s.n), in order, round and round.
func worker(ctx context.Context, client *http.Client, base, mode string, w, c int, s *sessions, first int, r *result) {
	buf := new(bytes.Buffer)
	owned := 0
	if s != nil {
		owned = (s.n - w + c - 1) / c // sessions w, w+c, … below n
	}
	// signout: each owned session still live is signed out once, then the
	// worker stops (a warm-up has already signed some out).
	live, signedOut := 0, 0
	if mode == modeSignOut {
		for k := range owned {
			if !s.dead[(w+first+k*c)%s.n] {
				live++
			}
		}
	}
	for k := 0; ctx.Err() == nil; k++ {
		if mode == modeSignOut && signedOut >= live {
			return
		}
		i := -1
		if s != nil && owned > 0 {
			i = (w + first + (k%owned)*c) % s.n
			if s.dead[i] {
				continue
			}
		}
		req, err := newRequest(ctx, base, mode, s, i, k)
		if err != nil {
			r.errs["build request: "+err.Error()]++
			return
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(resp.Body)
			resp.Body.Close()
		}
		lat := time.Since(t0)
		if err != nil {
			if ctx.Err() != nil {
				return // the run ended mid-request: not counted
			}
			r.h.add(lat)
			r.status[0]++
			r.errs[shortErr(err)]++
			if i >= 0 {
				s.dead[i] = true // did it rotate? unknown: leave the chain
			}
			continue
		}
		r.h.add(lat)
		if resp.StatusCode/100 != 2 {
			r.status[resp.StatusCode]++
			r.errs[fmt.Sprintf("%d %s", resp.StatusCode, clip(buf.String()))]++
			if i >= 0 && rotates(mode) {
				s.dead[i] = true
			}
			continue
		}
		r.ok++
		if mode == modeSignOut {
			s.dead[i] = true // revoked: its next sign-out would revoke nothing
			signedOut++
		}
		if rotates(mode) {
			if err := advance(s, i, mode, buf.Bytes()); err != nil {
				r.errs["response: "+err.Error()]++
				s.dead[i] = true
			}
		}
	}
}

func newRequest(ctx context.Context, base, mode string, s *sessions, i, k int) (*http.Request, error) {
	var (
		method, path, ctype string
		body                io.Reader
	)
	switch mode {
	case modeCeiling:
		method, path = http.MethodGet, "/healthz"
	case modeRefresh, modeDPoP, modeOAuth:
		if i < 0 {
			return nil, errors.New("no session")
		}
		tok, err := s.refreshToken(i)
		if err != nil {
			return nil, err
		}
		method = http.MethodPost
		if mode == modeRefresh || mode == modeDPoP {
			path, ctype = "/token", "application/json"
			body = strings.NewReader(`{"refreshToken":"` + tok + `"}`)
		} else {
			path, ctype = "/oauth/token", "application/x-www-form-urlencoded"
			body = strings.NewReader("grant_type=refresh_token&refresh_token=" + url.QueryEscape(tok))
		}
	case modeMe:
		method, path = http.MethodGet, "/auth/me"
	case modeSignUp:
		email := fmt.Sprintf("flood-%d-%d@load.test", signUps.Add(1), time.Now().UnixNano())
		raw, _ := json.Marshal(map[string]string{"email": email, "password": loadPassword})
		method, path, ctype, body = http.MethodPost, "/auth/sign-up", "application/json", bytes.NewReader(raw)
	case modeSignOut:
		method, path, ctype, body = http.MethodPost, "/auth/sign-out", "application/json", strings.NewReader(`{"scope":"local"}`)
	case modeSignIn:
		if s == nil || len(s.emails) == 0 && !s.seeded {
			return nil, errors.New("no users")
		}
		users := (s.n + s.perUser - 1) / s.perUser
		email := seededEmail(s.prefix, (i/s.perUser+k)%users)
		raw, _ := json.Marshal(map[string]string{"email": email, "password": loadPassword})
		method, path, ctype, body = http.MethodPost, "/auth/sign-in", "application/json", bytes.NewReader(raw)
	default:
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if mode == modeDPoP {
		// Session i is bound to the key of its owner (keyOf): every
		// refresh carries a new proof by it.
		p := s.presigned(i)
		if p == "" {
			if p, err = dpop.NewProof(s.keyOf(i), method, base+path, dpop.ProofOptions{}); err != nil {
				return nil, err
			}
		}
		req.Header.Set("DPoP", p)
	}
	if mode == modeMe || mode == modeSignOut {
		tok, err := s.accessToken(i)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req, nil
}

// advance records the rotation a 2xx refresh response reports: the next
// generation, and (for signed-in sessions) the new refresh token, which the
// next request of this session presents.
func advance(s *sessions, i int, mode string, body []byte) error {
	field := `"refreshToken":"`
	if mode == modeOAuth {
		field = `"refresh_token":"`
	}
	_, rest, ok := bytes.Cut(body, []byte(field))
	if !ok {
		return errors.New("no refresh token in the response")
	}
	tok, _, ok := bytes.Cut(rest, []byte(`"`))
	if !ok {
		return errors.New("truncated refresh token")
	}
	if s.seeded {
		s.gen[i]++ // the next request mints this generation (see sessions)
		return nil
	}
	s.refresh[i] = string(tok)
	s.gen[i]++
	return nil
}

type peekClaims struct {
	Sid string `json:"sid"`
	Sub string `json:"sub"`
	Gen int64  `json:"gen"`
}

// unverifiedRefreshClaims reads a refresh token's payload without checking
// it: the tool only needs to know which session it belongs to.
func unverifiedRefreshClaims(tok string) (peekClaims, error) {
	var c peekClaims
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return c, errors.New("refresh token is not a compact JWS")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(raw, &c)
}

func shortErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return clip(err.Error())
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}
