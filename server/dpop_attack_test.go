package server_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/dpop"
	"github.com/latchkey-dev/latchkey/server/servertest"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/postgres/pgtest"
)

// recorded reports whether the store's replay cache holds the proof of key
// jkt and id jti: recording it again fails only then (a probe that records
// it when it was not).
func recorded(t *testing.T, st store.Store, jkt, jti string, now time.Time) bool {
	t.Helper()
	key := dpop.ReplayKey(jkt, jti)
	err := st.UseProof(context.Background(), store.ProofUse{Key: key[:], Expires: now.Add(time.Minute)})
	switch {
	case err == nil:
		return false
	case errors.Is(err, store.ErrReplay):
		return true
	}
	t.Fatal(err)
	return false
}

// A sign-in the rate limit refuses records nothing: its proof is checked
// (statelessly) but not written to the replay cache, so a client over the
// limit cannot make the server write a row per request.
func TestDPoPRateLimitedSignInRecordsNoProof(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) {
		c.RateLimits = true
		c.RateLimitSigninFailuresAccount = config.Rate{Count: 1000, Per: time.Minute}
		c.RateLimitSigninFailuresIP = config.Rate{Count: 1000, Per: time.Minute}
		c.RateLimitSigninIP = config.Rate{Count: 1, Per: time.Minute}
		c.RateLimitRefreshIP = config.Rate{Count: 1000, Per: time.Minute}
		c.RateLimitSignupIP = config.Rate{Count: 1000, Per: time.Minute}
		c.RateLimitSignupGlobal = config.Rate{Count: 1000, Per: time.Minute}
	})
	d := dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}
	jkt, _ := dpop.Thumbprint(d.key.Public())
	dpopSignIn(t, s, d, "limited@example.com") // the one sign-in the minute allows
	for i := range 3 {
		jti := "over-the-limit-" + string(rune('a'+i))
		r := s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": "limited@example.com", "password": "password123"},
			"DPoP: "+d.proof(t, "POST", "/auth/sign-in", dpop.ProofOptions{JTI: jti}))
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("sign-in over the limit: %d %s", r.Status, r.Body)
		}
		if recorded(t, s.App.Store, jkt, jti, s.Clock.Now()) {
			t.Fatalf("the proof of a rate-limited sign-in was written to the replay cache")
		}
	}
}

// DPOP=off ignores proofs for binding (new sessions are bearer), but a
// session bound before keeps refreshing with proofs by its key, and only
// with them: switching the setting off neither locks its users out nor
// lets its refresh token work alone.
func TestDPoPOffKeepsBoundSessions(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "shared.db")
	const public = "https://auth.example.com"
	on := servertest.Start(t, func(c *config.Config) { c.DatabaseURL, c.PublicURL = db, public })
	off := servertest.Start(t, func(c *config.Config) { c.DatabaseURL, c.PublicURL, c.DPoP = db, public, "off" })
	d := dpopSigner{base: public, now: on.Clock.Now, key: newKey(t)}
	tr := dpopSignIn(t, on, d, "bound-before@example.com")
	before := sessionOf(t, off.App.Store, tr.AccessToken)

	// Without a proof, or with another key's, the bound session is refused
	// and left as it was.
	thief := dpopSigner{base: public, now: off.Clock.Now, key: newKey(t)}
	for name, hdr := range map[string][]string{
		"no proof":    nil,
		"another key": {"DPoP: " + thief.proof(t, "POST", "/token", dpop.ProofOptions{})},
	} {
		r := off.Do(t, "POST", "/token", map[string]string{"refreshToken": tr.RefreshToken}, hdr...)
		if r.Status != http.StatusBadRequest || r.Map(t)["error"] != "invalid_dpop_proof" {
			t.Fatalf("%s: %d %s", name, r.Status, r.Body)
		}
		if got := sessionOf(t, off.App.Store, tr.AccessToken); got != before {
			t.Fatalf("%s: session changed:\n got %+v\nwant %+v", name, got, before)
		}
	}
	// With a proof by its key it refreshes, still bound.
	r := off.Do(t, "POST", "/token", map[string]string{"refreshToken": tr.RefreshToken},
		"DPoP: "+d.proof(t, "POST", "/token", dpop.ProofOptions{}))
	var got tokenResponse
	if r.JSON(t, &got); r.Status != http.StatusOK || got.TokenType != "DPoP" || claimsOf(t, got.AccessToken)["cnf"] == nil {
		t.Fatalf("bound refresh with its proof under DPOP=off: %d %s", r.Status, r.Body)
	}
	// A new sign-in with a proof is still a bearer session.
	r = off.Do(t, "POST", "/auth/sign-in", map[string]string{"email": "bound-before@example.com", "password": "password123"},
		"DPoP: "+d.proof(t, "POST", "/auth/sign-in", dpop.ProofOptions{}))
	if r.JSON(t, &got); r.Status != http.StatusOK || got.TokenType != "Bearer" {
		t.Fatalf("sign-in with a proof under DPOP=off: %d %s", r.Status, r.Body)
	}
	// Its refresh ignores a DPoP header, even an invalid proof (of another
	// route).
	r = off.Do(t, "POST", "/token", map[string]string{"refreshToken": got.RefreshToken},
		"DPoP: "+d.proof(t, "POST", "/auth/sign-in", dpop.ProofOptions{}))
	if r.JSON(t, &got); r.Status != http.StatusOK || got.TokenType != "Bearer" {
		t.Fatalf("bearer refresh with an invalid proof under DPOP=off: %d %s", r.Status, r.Body)
	}
}

// A proof is remembered as long as any instance may accept it, even one
// whose clock is behind the instance that purges the replay cache: a
// purge by the clock of an instance ahead must not let a lagging one take
// the proof again.
func TestDPoPReplayAfterPurgeByAnInstanceAhead(t *testing.T) {
	eachDatabase(t, func(t *testing.T, u string) {
		const public = "https://auth.example.com"
		start := func() *servertest.Server {
			return servertest.Start(t, func(c *config.Config) { c.DatabaseURL, c.PublicURL = u, public })
		}
		ahead, behind := start(), start()
		ahead.Clock.Advance(10 * time.Second) // instance clocks a few seconds apart
		d := dpopSigner{base: public, now: behind.Clock.Now, key: newKey(t)}
		tr := dpopSignIn(t, behind, d, "skew@example.com")
		p := d.proof(t, "GET", "/auth/me", dpop.ProofOptions{AccessToken: tr.AccessToken})
		me := func() *servertest.Response {
			return behind.Do(t, "GET", "/auth/me", nil, "Authorization: DPoP "+tr.AccessToken, "DPoP: "+p)
		}
		if r := me(); r.Status != http.StatusOK {
			t.Fatalf("/auth/me: %d %s", r.Status, r.Body)
		}
		// 60 s on, the proof is still within its window at the lagging
		// instance; the instance ahead purges what its clock says expired.
		ahead.Clock.Advance(time.Minute)
		behind.Clock.Advance(time.Minute)
		if _, err := ahead.App.Store.PurgeProofs(context.Background(), ahead.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		wantDPoPError(t, me(), http.StatusUnauthorized, "invalid_dpop_proof", "replay")
	})
}

// Two requests, one proof: of concurrent refreshes presenting the same
// refresh token and the same proof, exactly one rotates the session; the
// others are replays, and none counts as reuse.
func TestDPoPConcurrentRefreshesOneProof(t *testing.T) {
	eachDatabase(t, func(t *testing.T, u string) {
		s := servertest.Start(t, func(c *config.Config) { c.DatabaseURL = u })
		d := dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}
		tr := dpopSignIn(t, s, d, "race@example.com")
		p := d.proof(t, "POST", "/token", dpop.ProofOptions{})
		const n = 8
		statuses := make(chan *servertest.Response, n)
		start := make(chan struct{})
		for range n {
			go func() {
				<-start
				statuses <- s.Do(t, "POST", "/token", map[string]string{"refreshToken": tr.RefreshToken}, "DPoP: "+p)
			}()
		}
		close(start)
		ok := 0
		for range n {
			r := <-statuses
			switch {
			case r.Status == http.StatusOK:
				ok++
			case r.Status == http.StatusBadRequest && r.Map(t)["reason"] == "replay":
			default:
				t.Errorf("refresh: %d %s", r.Status, r.Body)
			}
		}
		if ok != 1 {
			t.Fatalf("%d refreshes with one proof succeeded, want exactly 1", ok)
		}
		sess := sessionOf(t, s.App.Store, tr.AccessToken)
		if sess.Revoked() || sess.Generation != 2 {
			t.Fatalf("session after the race: %+v", sess)
		}
	})
}

// The reuse interval answers a second tab's refresh of the superseded
// token with the current tokens; the proof that came with it is used up all
// the same, so replaying that request is refused as a replay (and changes
// nothing).
func TestDPoPReissueProofIsUsedUp(t *testing.T) {
	eachDatabase(t, func(t *testing.T, u string) {
		s := servertest.Start(t, func(c *config.Config) { c.DatabaseURL = u })
		d := dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}
		tr := dpopSignIn(t, s, d, "tabs@example.com")
		refresh := func(p string) *servertest.Response {
			return s.Do(t, "POST", "/token", map[string]string{"refreshToken": tr.RefreshToken}, "DPoP: "+p)
		}
		if r := refresh(d.proof(t, "POST", "/token", dpop.ProofOptions{})); r.Status != http.StatusOK {
			t.Fatalf("first tab: %d %s", r.Status, r.Body)
		}
		second := d.proof(t, "POST", "/token", dpop.ProofOptions{})
		if r := refresh(second); r.Status != http.StatusOK {
			t.Fatalf("second tab within the reuse interval: %d %s", r.Status, r.Body)
		}
		before := sessionOf(t, s.App.Store, tr.AccessToken)
		wantDPoPError(t, refresh(second), http.StatusBadRequest, "invalid_dpop_proof", "replay")
		if got := sessionOf(t, s.App.Store, tr.AccessToken); got != before {
			t.Fatalf("session changed:\n got %+v\nwant %+v", got, before)
		}
	})
}

// The htu a proof must name comes from PUBLIC_URL, never from the request's
// Host or X-Forwarded-* headers: a proof made for another host is refused
// however the request dresses itself, and one for the public URL is
// accepted whatever Host the request came with. A nonce issued by another
// deployment (another database, another secret) is refused too.
func TestDPoPHostSpoofingAndForeignNonces(t *testing.T) {
	const public = "https://auth.example.com"
	s := servertest.Start(t, func(c *config.Config) { c.PublicURL, c.DPoPNonce = public, true })
	other := servertest.Start(t, func(c *config.Config) { c.PublicURL, c.DPoPNonce = public, true })
	d := dpopSigner{base: public, now: s.Clock.Now, key: newKey(t)}
	nonce := s.Do(t, "GET", "/.well-known/oauth-authorization-server", nil).Header.Get("DPoP-Nonce")
	foreign := other.Do(t, "GET", "/.well-known/oauth-authorization-server", nil).Header.Get("DPoP-Nonce")
	if nonce == "" || foreign == "" || nonce == foreign {
		t.Fatalf("nonces %q and %q", nonce, foreign)
	}
	s.SignUp(t, "host@example.com", "password123")
	signIn := func(p, host string, hdr ...string) *servertest.Response {
		t.Helper()
		req, err := http.NewRequest("POST", s.URL+"/auth/sign-in", strings.NewReader(`{"email":"host@example.com","password":"password123"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("DPoP", p)
		for _, h := range hdr {
			k, v, _ := strings.Cut(h, ": ")
			req.Header.Set(k, v)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return &servertest.Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
	}
	evil := dpopSigner{base: "https://evil.example.com", now: s.Clock.Now, key: d.key}
	r := signIn(evil.proof(t, "POST", "/auth/sign-in", dpop.ProofOptions{Nonce: nonce}), "evil.example.com",
		"X-Forwarded-Host: evil.example.com", "X-Forwarded-Proto: https", "Forwarded: host=evil.example.com;proto=https")
	wantDPoPError(t, r, http.StatusBadRequest, "invalid_dpop_proof", "htu")
	r = signIn(d.proof(t, "POST", "/auth/sign-in", dpop.ProofOptions{Nonce: foreign}), "auth.example.com")
	wantDPoPError(t, r, http.StatusBadRequest, "use_dpop_nonce", "")
	r = signIn(d.proof(t, "POST", "/auth/sign-in", dpop.ProofOptions{Nonce: nonce}), "evil.example.com",
		"X-Forwarded-Host: evil.example.com")
	if r.Status != http.StatusOK {
		t.Fatalf("sign-in with a proof for the public URL: %d %s", r.Status, r.Body)
	}
}

// A bound refresh whose rotation committed but could not be reported
// (store.ErrInDoubt: PostgreSQL applied it, its row could not be read back)
// is answered 503; the client's retry of the same token with a new proof,
// long after the reuse interval, is answered with the rotation it made.
// The first proof was used by the rotation that committed: presented again
// it is a replay, and changes nothing.
func TestDPoPInDoubtRotationRetriedWithANewProof(t *testing.T) {
	u := pgtest.FreshSchema(t)
	s := servertest.Start(t, func(c *config.Config) { c.DatabaseURL = u })
	d := dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}
	tr := dpopSignIn(t, s, d, "doubt@example.com")
	exec := func(sql string) {
		t.Helper()
		conn, err := pgx.Connect(t.Context(), u)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		if _, err := conn.Exec(t.Context(), sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(`ALTER TABLE sessions ALTER COLUMN ip DROP NOT NULL;
		CREATE FUNCTION null_ip() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN NEW.ip := NULL; RETURN NEW; END $$;
		CREATE TRIGGER null_ip BEFORE UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION null_ip()`)
	refresh := func(p string) *servertest.Response {
		return s.Do(t, "POST", "/token", map[string]string{"refreshToken": tr.RefreshToken}, "DPoP: "+p)
	}
	first := d.proof(t, "POST", "/token", dpop.ProofOptions{})
	if r := refresh(first); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("refresh whose row is unreadable: %d %s; want 503", r.Status, r.Body)
	}
	exec(`DROP TRIGGER null_ip ON sessions; UPDATE sessions SET ip = '' WHERE ip IS NULL`)
	before := sessionOf(t, s.App.Store, tr.AccessToken)
	if before.Generation != 2 {
		t.Fatalf("the rotation did not commit: %+v", before)
	}
	wantDPoPError(t, refresh(first), http.StatusBadRequest, "invalid_dpop_proof", "replay")
	if got := sessionOf(t, s.App.Store, tr.AccessToken); got != before {
		t.Fatalf("the replayed proof changed the session:\n got %+v\nwant %+v", got, before)
	}
	s.Clock.Advance(10 * time.Minute) // far past the reuse interval
	r := refresh(d.proof(t, "POST", "/token", dpop.ProofOptions{}))
	var got tokenResponse
	if r.JSON(t, &got); r.Status != http.StatusOK || got.TokenType != "DPoP" {
		t.Fatalf("the client's retry with a new proof: %d %s", r.Status, r.Body)
	}
	if sess := sessionOf(t, s.App.Store, got.AccessToken); sess.Revoked() || sess.Generation != 2 {
		t.Fatalf("session after the retry: %+v", sess)
	}
}

// Two instances of one database whose clocks are a few seconds apart,
// straddling a nonce step boundary: the nonce the instance ahead hands out
// is accepted by the instance behind.
func TestDPoPNonceAcrossSkewedInstances(t *testing.T) {
	u := pgtest.FreshSchema(t)
	const public = "https://auth.example.com"
	start := func() *servertest.Server {
		return servertest.Start(t, func(c *config.Config) { c.DatabaseURL, c.PublicURL, c.DPoPNonce = u, public, true })
	}
	ahead, behind := start(), start()
	step := 5 * time.Minute
	next := servertest.Epoch.Truncate(step).Add(step)
	ahead.Clock.Advance(next.Add(3 * time.Second).Sub(ahead.Clock.Now()))
	behind.Clock.Advance(next.Add(-3 * time.Second).Sub(behind.Clock.Now()))
	nonce := ahead.Do(t, "GET", "/.well-known/oauth-authorization-server", nil).Header.Get("DPoP-Nonce")
	if nonce == "" || nonce == behind.Do(t, "GET", "/.well-known/oauth-authorization-server", nil).Header.Get("DPoP-Nonce") {
		t.Fatalf("the instances are not in two steps: %q", nonce)
	}
	behind.SignUp(t, "skewed-nonce@example.com", "password123")
	d := dpopSigner{base: public, now: behind.Clock.Now, key: newKey(t)}
	r := behind.Do(t, "POST", "/auth/sign-in", map[string]string{"email": "skewed-nonce@example.com", "password": "password123"},
		"DPoP: "+d.proof(t, "POST", "/auth/sign-in", dpop.ProofOptions{Nonce: nonce}))
	if r.Status != http.StatusOK {
		t.Fatalf("sign-in at the instance behind with the nonce of the one ahead: %d %s", r.Status, r.Body)
	}
}

// Hostile DPoP and Authorization headers on every route that reads them:
// always a 4xx with a JSON error, never a 5xx, and the bound session is
// left as it was.
func TestDPoPHostileHeadersEveryRoute(t *testing.T) {
	s := servertest.Start(t, nil)
	d := dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}
	tr := dpopSignIn(t, s, d, "hostile@example.com")
	before := sessionOf(t, s.App.Store, tr.AccessToken)
	k := d.key.(*ecdsa.PrivateKey)
	head := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": jwkMap(t, k.Public())}
	// Well formed and signed by the session's key, but for a route none of
	// the requests goes to.
	claims := map[string]any{"jti": "j", "htm": "POST", "htu": s.URL + "/nowhere", "iat": s.Clock.Now().Unix()}
	valid := forgeProof(t, k, head, claims)
	hostile := [][]string{
		{"DPoP: " + valid, "DPoP: " + valid},
		{"DPoP: " + strings.Repeat("a", 9000) + "." + strings.Repeat("b", 9000) + "." + "c"},
		{"DPoP: ..."},
		{"DPoP: " + strings.ReplaceAll(valid, ".", "..")},
		{"DPoP: é.é.é"},
		{"DPoP: " + forgeProof(t, k, map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": []any{1, 2}}, claims)},
		{"DPoP: " + forgeProof(t, k, map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": map[string]any{"kty": "EC", "crv": "P-256", "x": 1, "y": nil}}, claims)},
		{"DPoP: " + forgeProof(t, k, head, map[string]any{"jti": "j", "htm": "POST", "htu": "http://[::1", "iat": "x"})},
		{"DPoP: " + forgeProof(t, k, head, map[string]any{"jti": map[string]any{}, "htm": []any{}, "htu": 1, "iat": -1})},
		{"DPoP: " + valid, "Authorization: DPoP"},
		{"DPoP: " + valid, "Authorization: DPoP " + tr.AccessToken + " extra"},
		{"DPoP: " + valid, "Authorization: dpop " + tr.AccessToken, "Authorization: Bearer " + tr.AccessToken},
		{"DPoP: " + valid, "Authorization: DPoP " + tr.RefreshToken},
	}
	routes := []struct {
		method, path string
		body         any
		ctype        string
	}{
		{"POST", "/token", map[string]string{"refreshToken": tr.RefreshToken}, ""},
		{"POST", "/token/refresh", nil, ""},
		{"GET", "/auth/me", nil, ""},
		{"GET", "/auth/sessions", nil, ""},
		{"POST", "/auth/sign-out", nil, ""},
		{"POST", "/auth/password", map[string]string{"currentPassword": "password123", "newPassword": "a hostile new password"}, ""},
		{"POST", "/oauth/token", "grant_type=refresh_token&refresh_token=" + tr.RefreshToken, formType},
		{"POST", "/oauth/revoke", "token=" + tr.RefreshToken, formType},
		{"POST", "/auth/login", "grant_type=refresh_token&refresh_token=" + tr.RefreshToken, formType},
		{"POST", "/authentication", map[string]string{"action": "refresh", "refresh_token": tr.RefreshToken}, ""},
		{"POST", "/authentication", map[string]string{"strategy": "jwt", "accessToken": tr.AccessToken}, ""},
		{"DELETE", "/authentication", nil, ""},
		{"GET", "/api/refresh/refreshtoken", nil, "Cookie: refreshToken=" + tr.RefreshToken},
	}
	for _, rt := range routes {
		for i, h := range hostile {
			hdr := append([]string(nil), h...)
			if rt.ctype != "" {
				hdr = append(hdr, rt.ctype)
			}
			r := s.Do(t, rt.method, rt.path, rt.body, hdr...)
			if r.Status < 400 || r.Status >= 500 {
				t.Errorf("%s %s, headers %d: %d %s", rt.method, rt.path, i, r.Status, r.Body)
			}
		}
	}
	if got := sessionOf(t, s.App.Store, tr.AccessToken); got != before {
		t.Fatalf("session changed:\n got %+v\nwant %+v", got, before)
	}
	// No hostile request changed the password.
	if st, code := signInStatus(t, s, "hostile@example.com", "password123"); st != http.StatusOK {
		t.Fatalf("sign-in with the password after the hostile requests: %d %s", st, code)
	}
}

// DPOP=required: every request that mints a token carries a proof, and
// bearer renewal (POST /token/refresh) mints one. A bearer session from
// before the setting renews its access token only with a proof of the
// request (it stays bearer, as its refresh does); without one it is
// refused with the reason and the setting named.
func TestDPoPRequiredRenewal(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "shared.db")
	const public = "https://auth.example.com"
	before := servertest.Start(t, func(c *config.Config) { c.DatabaseURL, c.PublicURL = db, public })
	required := servertest.Start(t, func(c *config.Config) { c.DatabaseURL, c.PublicURL, c.DPoP = db, public, "required" })
	tk := before.SignIn(t, "legacy@example.com", "password123")
	r := required.Do(t, "POST", "/token/refresh", nil, "Authorization: Bearer "+tk.AccessToken)
	wantDPoPError(t, r, http.StatusUnauthorized, "invalid_dpop_proof", "missing")
	if msg, _ := r.Map(t)["message"].(string); !strings.Contains(msg, "DPOP=required") {
		t.Fatalf("the refusal does not name the setting: %s", r.Body)
	}
	d := dpopSigner{base: public, now: required.Clock.Now, key: newKey(t)}
	p := d.proof(t, "POST", "/token/refresh", dpop.ProofOptions{})
	r = required.Do(t, "POST", "/token/refresh", nil, "Authorization: Bearer "+tk.AccessToken, "DPoP: "+p)
	var got tokenResponse
	if r.JSON(t, &got); r.Status != http.StatusOK || got.TokenType != "Bearer" {
		t.Fatalf("renewal with a proof: %d %s", r.Status, r.Body)
	}
	r = required.Do(t, "POST", "/token/refresh", nil, "Authorization: Bearer "+got.AccessToken, "DPoP: "+p)
	wantDPoPError(t, r, http.StatusUnauthorized, "invalid_dpop_proof", "replay")
	// Under DPOP=allowed a bearer token renews without one, as before.
	if r := before.Do(t, "POST", "/token/refresh", nil, "Authorization: Bearer "+got.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("renewal under DPOP=allowed: %d %s", r.Status, r.Body)
	}
}

// DPOP=required on every dialect: a request that mints tokens without a
// proof is refused with invalid_dpop_proof in the dialect's shape and a
// message naming the setting, whatever the dialect's clients are.
func TestDPoPRequiredEveryDialect(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "shared.db")
	const public = "https://auth.example.com"
	allowed := servertest.Start(t, func(c *config.Config) { c.DatabaseURL, c.PublicURL = db, public })
	s := servertest.Start(t, func(c *config.Config) { c.DatabaseURL, c.PublicURL, c.DPoP = db, public, "required" })
	tk := allowed.SignIn(t, "required@example.com", "password123")
	creds := url.Values{"username": {"required@example.com"}, "email": {"required@example.com"}, "password": {"password123"}}
	for _, c := range []struct {
		name, method, path string
		body               any
		hdr                []string
	}{
		{"oauth2 password", "POST", "/oauth/token", "grant_type=password&" + creds.Encode(), []string{formType}},
		{"oauth2 refresh", "POST", "/oauth/token", "grant_type=refresh_token&refresh_token=" + tk.RefreshToken, []string{formType}},
		{"login", "POST", "/auth/login", creds.Encode(), []string{formType}},
		{"login refresh", "POST", "/auth/login", "grant_type=refresh_token&refresh_token=" + tk.RefreshToken, []string{formType}},
		{"feathers local", "POST", "/authentication", map[string]string{"strategy": "local", "email": "required@example.com", "password": "password123"}, nil},
		{"feathers refresh", "POST", "/authentication", map[string]string{"action": "refresh", "refresh_token": tk.RefreshToken}, nil},
		{"cookie refresh", "GET", "/api/refresh/refreshtoken", nil, []string{"Cookie: refreshToken=" + tk.RefreshToken}},
		{"canonical refresh", "POST", "/token", map[string]string{"refreshToken": tk.RefreshToken}, nil},
	} {
		r := s.Do(t, c.method, c.path, c.body, c.hdr...)
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "invalid_dpop_proof") || !strings.Contains(string(r.Body), "DPOP=required") {
			t.Errorf("%s without a proof: %d %s", c.name, r.Status, r.Body)
		}
	}
	// Nothing was minted, and the bearer session is as it was.
	if sess := sessionOf(t, s.App.Store, tk.AccessToken); sess.Generation != 1 || sess.Revoked() {
		t.Fatalf("session after the refused requests: %+v", sess)
	}
}

// Tabs at the same moment: concurrent refreshes of one bound token, each
// with its own proof by the key. One rotates, the others are answered with
// the current tokens within the reuse interval; nothing is taken for reuse.
func TestDPoPConcurrentRefreshesOwnProofs(t *testing.T) {
	eachDatabase(t, func(t *testing.T, u string) {
		s := servertest.Start(t, func(c *config.Config) { c.DatabaseURL = u })
		d := dpopSigner{base: s.URL, now: s.Clock.Now, key: newKey(t)}
		tr := dpopSignIn(t, s, d, "tabs-at-once@example.com")
		const n = 8
		proofs := make([]string, n)
		for i := range proofs {
			proofs[i] = d.proof(t, "POST", "/token", dpop.ProofOptions{})
		}
		answers := make(chan *servertest.Response, n)
		start := make(chan struct{})
		for i := range n {
			go func() {
				<-start
				answers <- s.Do(t, "POST", "/token", map[string]string{"refreshToken": tr.RefreshToken}, "DPoP: "+proofs[i])
			}()
		}
		close(start)
		for range n {
			if r := <-answers; r.Status != http.StatusOK {
				t.Errorf("refresh: %d %s", r.Status, r.Body)
			}
		}
		sess := sessionOf(t, s.App.Store, tr.AccessToken)
		if sess.Revoked() || sess.Generation != 2 {
			t.Fatalf("session after the tabs: %+v", sess)
		}
		if strings.Contains(s.Logs.String(), "reuse_detected") {
			t.Fatal("a tab's refresh was taken for reuse")
		}
	})
}

// eachDatabase runs f as a subtest on each backend: a fresh SQLite file,
// and a fresh PostgreSQL schema. u is the DATABASE_URL to give servers.
func eachDatabase(t *testing.T, f func(t *testing.T, u string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, "sqlite://"+filepath.Join(t.TempDir(), "one.db")) })
	t.Run("postgres", func(t *testing.T) { f(t, pgtest.FreshSchema(t)) })
}
