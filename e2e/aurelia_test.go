package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

// Bounds of the aurelia-authentication test. The access lifetime is 3 s so
// that autoUpdateToken refreshes several times within seconds; the waits
// are real time (the browser's clock cannot be injected).
const (
	aureliaAccessLifetime = "3s"
	aureliaBrowserTimeout = 60 * time.Second
	// refreshWait bounds the wait for the refreshes that up to three access
	// lifetimes bring (the library refreshes within ±0.5 s of expiry), with
	// room for a loaded machine.
	refreshWait = 15 * time.Second
)

const aureliaPassword = "correct horse battery staple"

// aureliaEnv is a running Latchkey, the recorder in front of it and the app
// built against the recorder, served next to the app's own API.
type aureliaEnv struct {
	latchkey *e2etest.Proc
	rec      *recorder
	appURL   string
	api      *apiServer
	browser  *e2etest.Tab // its first tab stays blank; each case opens its own
}

// TestAureliaAuthentication runs aurelia-authentication 3.8.3 (with
// aurelia-api 3.2.1 over aurelia-fetch-client 1.8.2, in an Aurelia 1 app
// started by aurelia-bootstrapper) in headless Chromium against the real
// `latchkey serve`, configured exactly as docs/clients.md says: the app is
// built from the guide's authConfig.js and main.js at every run. The app is
// served on one origin, Latchkey on another (CORS_ALLOWED_ORIGINS, as the
// guide tells), with a recorder between the browser and Latchkey that keeps
// every request and answer. JWT_EXPIRES_IN is 3s so that autoUpdateToken
// refreshes every few seconds. Each case has its own browser context (its
// own localStorage) and user, and the cases run in parallel.
func TestAureliaAuthentication(t *testing.T) {
	node, npm := e2etest.RequireNode(t, "the aurelia-authentication browser test")
	e2etest.RequireChromium(t, "the aurelia-authentication browser test")
	if testing.Short() {
		t.Skip("-short: the aurelia-authentication browser test waits ~10 s of real time")
	}
	e2etest.NPMInstall(t, npm, aureliaDir)
	browser := e2etest.StartBrowser(t, aureliaBrowserTimeout)
	env := startAureliaEnv(t, node, browser, nil)
	// A second Latchkey with no reuse interval: what two tabs do then.
	strict := startAureliaEnv(t, node, browser, map[string]string{"REFRESH_TOKEN_REUSE_INTERVAL": "0s"})

	t.Run("signup, login, autoUpdateToken with client_id, logout", func(t *testing.T) {
		t.Parallel()
		testAureliaSession(t, env)
	})
	t.Run("logout without logoutUrl", func(t *testing.T) {
		t.Parallel()
		testAureliaLocalLogout(t, env)
	})
	t.Run("two tabs refresh at once", func(t *testing.T) {
		t.Parallel()
		testAureliaTwoTabs(t, env)
	})
	t.Run("session revoked elsewhere", func(t *testing.T) {
		t.Parallel()
		testAureliaRevoked(t, env)
	})
	t.Run("two tabs without a reuse interval", func(t *testing.T) {
		t.Parallel()
		testAureliaTwoTabsNoGrace(t, strict)
	})
}

func startAureliaEnv(t *testing.T, node string, browser *e2etest.Tab, serverEnv map[string]string) *aureliaEnv {
	t.Helper()
	api := &apiServer{}
	var site siteServer
	site.api = api
	appSrv := httptest.NewServer(&site)
	t.Cleanup(appSrv.Close)
	env := map[string]string{
		"JWT_EXPIRES_IN":       aureliaAccessLifetime,
		"CORS_ALLOWED_ORIGINS": appSrv.URL, // the guide: the app on another origin
	}
	for k, v := range serverEnv {
		env[k] = v
	}
	srv := e2etest.StartServer(t, env)
	rec := newRecorder(srv.URL)
	proxy := httptest.NewServer(rec)
	t.Cleanup(proxy.Close)
	site.files = http.FileServer(http.Dir(buildAureliaApp(t, node, proxy.URL)))
	api.auth = latchkey.NewAuthenticator(latchkey.AuthOptions{Issuer: srv.URL,
		Keys: latchkey.RemoteKeys(srv.URL+"/.well-known/jwks.json", latchkey.RemoteOptions{})})
	return &aureliaEnv{latchkey: srv, rec: rec, appURL: appSrv.URL, api: api, browser: browser}
}

// open opens the app in a new browser context (a private window), with
// config merged into the guide's authConfig ("" for none).
func (env *aureliaEnv) open(t *testing.T, name, config string) appPage {
	t.Helper()
	return env.openIn(t, env.browser.NewTab(t, name, true), config)
}

func (env *aureliaEnv) openIn(t *testing.T, tab *e2etest.Tab, config string) appPage {
	t.Helper()
	page := env.appURL + "/"
	if config != "" {
		page += "?config=" + url.QueryEscape(config)
	}
	return openApp(t, tab, page)
}

// testAureliaSession: signup (loginOnSignup), isAuthenticated, getMe,
// logout with the guide's logoutUrl, login through the page's form with a
// clientId, autoUpdateToken three times in a row while the app's calls go
// on, and logout again.
func testAureliaSession(t *testing.T, env *aureliaEnv) {
	const email = "ann@example.com"
	p := env.open(t, "ann", `{"clientId":"my-spa"}`)
	if s, _ := p.state(t); s.Authenticated || s.Stored || isAuthenticated(t, p) {
		t.Fatalf("a new app is signed in: %+v", s)
	}

	// signup(displayName, email, password): Latchkey signs the new user in.
	p.mustCall(t, jsCall("signup", "Ann", email, aureliaPassword))
	signup := env.rec.last(t, "POST", "/auth/signup", withEmail(email))
	if got := sortedKeys(signup.Req); !slices.Equal(got, []string{"displayName", "email", "password"}) ||
		signup.ContentType != "application/json" || signup.Status != http.StatusCreated {
		t.Fatalf("signup sent %v, got %d %v", got, signup.Status, signup.Resp)
	}
	s := p.waitFor(t, "signed in by the signup", pageStep, func(s appState) bool { return s.ShownAuthenticated == "true" })
	if !s.Authenticated || !s.Stored || s.RefreshToken != str(signup.Resp, "refresh_token") || !isAuthenticated(t, p) {
		t.Fatalf("after signup: %+v", s)
	}
	// Signed in, the app is still sent to signupRedirect ('#/login' by
	// default), as if it had to sign in.
	if s.Hash != "#/login" {
		t.Fatalf("after signup the app is at %q; want aurelia's default signupRedirect #/login", s.Hash)
	}
	// The app is on another origin: the browser asked first (CORS).
	if pre := env.rec.last(t, "OPTIONS", "/auth/signup", func(exchange) bool { return true }); pre.Status != http.StatusNoContent {
		t.Fatalf("the preflight of the signup: %d", pre.Status)
	}
	// getMe() through profileUrl, with the bearer token.
	p.mustCall(t, "me()")
	p.waitFor(t, "the user from getMe", pageStep, func(s appState) bool { return s.ShownUser == email })
	if me := env.rec.last(t, "GET", "/auth/me", withBearer(sidOf(s.AccessToken))); me.Status != http.StatusOK {
		t.Fatalf("getMe: %d %v", me.Status, me.Resp)
	}

	// logout() with the guide's logoutUrl ends the session on the server.
	signupRT := s.RefreshToken
	p.mustCall(t, "logout()")
	if out := env.rec.last(t, "POST", "/auth/sign-out", withBearer(sidOf(signupRT))); out.Status != http.StatusNoContent {
		t.Fatalf("logout: POST /auth/sign-out: %d %v", out.Status, out.Resp)
	}
	s = p.waitFor(t, "signed out", pageStep, func(s appState) bool { return s.ShownAuthenticated == "false" })
	if s.Stored || isAuthenticated(t, p) {
		t.Fatalf("after logout: %+v", s)
	}
	expectRefused(t, env, signupRT, "", "session_revoked")

	// login() through the form: the credentials plus client_id.
	p.do(t, "sign in through the form",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), aureliaPassword),
		chromedp.Click(chromedp.ID("login-button")),
	)
	s = p.waitFor(t, "signed in through the form", pageStep, func(s appState) bool { return s.ShownAuthenticated == "true" })
	login := env.rec.last(t, "POST", "/auth/login", withEmail(email))
	if got := sortedKeys(login.Req); !slices.Equal(got, []string{"client_id", "email", "password"}) || str(login.Req, "client_id") != "my-spa" ||
		login.ContentType != "application/json" ||
		login.Status != http.StatusOK || s.RefreshToken != str(login.Resp, "refresh_token") {
		t.Fatalf("login sent %v, got %d; the app holds %q", login.Req["client_id"], login.Status, s.RefreshToken)
	}
	sid := sidOf(s.RefreshToken)
	if c := jwtClaims(s.RefreshToken); str(c, "client_id") != "my-spa" {
		t.Fatalf("the refresh token is not bound to my-spa: %v", c)
	}

	// autoUpdateToken: three refreshes in a row at the login URL, while the
	// app calls its own API and getMe every 100 ms.
	p.start(t, "callsEvery(100)")
	p.waitFor(t, "three refreshes by autoUpdateToken", refreshWait, func(appState) bool { return len(env.rec.refreshes(sid)) >= 3 })
	p.start(t, "stopCalls()")
	s = p.waitFor(t, "the app to hold the last refresh's tokens", pageStep, func(s appState) bool {
		r := env.rec.refreshes(sid)
		return s.RefreshToken == str(r[len(r)-1].Resp, "refresh_token")
	})
	chain := env.rec.refreshes(sid)
	prev := str(login.Resp, "refresh_token")
	for i, r := range chain {
		next := str(r.Resp, "refresh_token")
		if r.ContentType != "application/json" || r.Status != http.StatusOK || str(r.Req, "client_id") != "my-spa" || str(r.Req, "refresh_token") != prev ||
			next == "" || next == prev || r.BearerSID != sid {
			t.Fatalf("refresh %d: sent %v (bearer of session %q), got %d %v; want the previous answer's refresh token %q and client_id my-spa",
				i+1, r.Req, r.BearerSID, r.Status, r.Resp, prev)
		}
		prev = next
	}
	api := env.api.of(sid)
	t.Logf("%d refreshes in %s; the app's calls: %d succeeded, %d failed; its API accepted %d (%d of them past the token's exp, by up to %s) and refused %d",
		len(chain), chain[len(chain)-1].At.Sub(login.At).Round(100*time.Millisecond), s.Calls.OK, s.Calls.Failed,
		api.ok, api.late, api.latest.Round(time.Millisecond), api.unauthorized)
	if s.Calls.Failed != 0 || s.Calls.OK < 10 || api.ok == 0 || api.unauthorized != 0 {
		t.Fatalf("the app's authenticated calls across the refreshes: %+v; API %+v", s.Calls, api)
	}

	// logout(), then a refresh attempt fails: the library has no refresh
	// token left, and Latchkey refuses the last one.
	p.mustCall(t, "logout()")
	s = p.waitFor(t, "signed out", pageStep, func(s appState) bool { return s.ShownAuthenticated == "false" })
	if s.Stored {
		t.Fatalf("after logout: %+v", s)
	}
	if _, err := p.call(t, "updateToken()"); err == nil || err.Error() != "Error: refreshToken not set" {
		t.Fatalf("updateToken after logout: %v; want the library's \"refreshToken not set\"", err)
	}
	expectRefused(t, env, prev, "my-spa", "session_revoked")
}

// testAureliaLocalLogout: without logoutUrl, logout() only forgets the
// tokens; the session lives on at Latchkey.
func testAureliaLocalLogout(t *testing.T, env *aureliaEnv) {
	const email = "bob@example.com"
	signUp(t, env, email)
	p := env.open(t, "bob", `{"logoutUrl":null}`)
	p.mustCall(t, jsCall("login", email, aureliaPassword))
	s := p.waitFor(t, "signed in", pageStep, func(s appState) bool { return s.ShownAuthenticated == "true" })
	sid := sidOf(s.RefreshToken)
	p.mustCall(t, "logout()")
	s = p.waitFor(t, "signed out", pageStep, func(s appState) bool { return s.ShownAuthenticated == "false" })
	if s.Stored || isAuthenticated(t, p) {
		t.Fatalf("after logout: %+v", s)
	}
	if _, err := p.call(t, "updateToken()"); err == nil || err.Error() != "Error: refreshToken not set" {
		t.Fatalf("updateToken after logout: %v; want the library's \"refreshToken not set\"", err)
	}
	for _, ex := range env.rec.exchanges() {
		if ex.BearerSID == sid {
			t.Fatalf("logout without logoutUrl sent %s %s", ex.Method, ex.Path)
		}
	}
	// The refresh token the app dropped still works: only the browser
	// forgot the session.
	rt := str(env.rec.last(t, "POST", "/auth/login", withEmail(email)).Resp, "refresh_token")
	body := map[string]string{"grant_type": "refresh_token", "refresh_token": rt}
	if status, raw := postJSON(t, env.latchkey.URL+"/auth/login", body, ""); status != http.StatusOK || sidOf(rt) != sid {
		t.Fatalf("the session after a logout without logoutUrl: %d %s; want it still live", status, raw)
	}
}

// testAureliaTwoTabs: two tabs of one browser share the stored tokens and
// each has its own autoUpdateToken timer; aurelia-authentication has no
// cross-tab lock. The recorder holds the first refresh until the second
// tab's has arrived, so both present the same refresh token.
func testAureliaTwoTabs(t *testing.T, env *aureliaEnv) {
	const email = "carol@example.com"
	signUp(t, env, email)
	c1 := env.open(t, "carol-1", "")
	c1.mustCall(t, jsCall("login", email, aureliaPassword))
	s1 := c1.waitFor(t, "signed in", pageStep, func(s appState) bool { return s.ShownAuthenticated == "true" })
	rt := s1.RefreshToken
	env.rec.holdRefreshes(rt, 2)
	c2 := env.openIn(t, c1.NewTab(t, "carol-2", false), "")
	if s2, _ := c2.state(t); !s2.Authenticated || s2.RefreshToken != rt {
		t.Fatalf("the second tab does not share the first one's tokens: %+v", s2)
	}
	sid := sidOf(rt)
	c1.waitFor(t, "both tabs' refreshes of the same token", refreshWait, func(appState) bool {
		n := 0
		for _, r := range env.rec.refreshes(sid) {
			if str(r.Req, "refresh_token") == rt {
				n++
			}
		}
		return n >= 2
	})
	var twice []exchange
	for _, r := range env.rec.refreshes(sid) {
		if str(r.Req, "refresh_token") == rt {
			twice = append(twice, r)
		}
	}
	for _, r := range twice {
		if r.Status != http.StatusOK {
			t.Fatalf("a tab's refresh of the shared token: %d %v; want 200 (REFRESH_TOKEN_REUSE_INTERVAL)", r.Status, r.Resp)
		}
	}
	// Both tabs go on: each later refresh succeeds and both stay signed in.
	for _, p := range []appPage{c1, c2} {
		p.waitFor(t, "a refresh after the double one", refreshWait, func(s appState) bool {
			return len(env.rec.refreshes(sid)) >= 3 && s.Authenticated && s.RefreshToken != rt
		})
	}
	all := env.rec.refreshes(sid)
	for _, r := range all {
		if r.Status != http.StatusOK {
			t.Fatalf("a refresh of the two tabs' session: %d %v", r.Status, r.Resp)
		}
	}
	a, _ := c1.state(t)
	b, _ := c2.state(t)
	presented := map[string]int{}
	for _, r := range all {
		presented[str(r.Req, "refresh_token")]++
	}
	doubled := 0
	for _, n := range presented {
		if n > 1 {
			doubled++
		}
	}
	t.Logf("two tabs: %d refreshes of %d refresh tokens, %d of them presented by both tabs (the first one held until both had sent it); storage events %d and %d",
		len(all), len(presented), doubled, a.StorageEvents, b.StorageEvents)
}

// testAureliaTwoTabsNoGrace: the two tabs of testAureliaTwoTabs against a
// Latchkey with REFRESH_TOKEN_REUSE_INTERVAL=0s. The second refresh of the
// shared token is reuse: Latchkey revokes the session, and both tabs end up
// signed out.
func testAureliaTwoTabsNoGrace(t *testing.T, env *aureliaEnv) {
	const email = "erin@example.com"
	signUp(t, env, email)
	e1 := env.open(t, "erin-1", "")
	e1.mustCall(t, jsCall("login", email, aureliaPassword))
	s1 := e1.waitFor(t, "signed in", pageStep, func(s appState) bool { return s.ShownAuthenticated == "true" })
	rt := s1.RefreshToken
	env.rec.holdRefreshes(rt, 2)
	e2 := env.openIn(t, e1.NewTab(t, "erin-2", false), "")
	if s2, _ := e2.state(t); s2.RefreshToken != rt {
		t.Fatalf("the second tab does not share the first one's tokens: %+v", s2)
	}
	start := time.Now()
	for _, p := range []appPage{e1, e2} {
		p.waitFor(t, "signed out after the double refresh", refreshWait, func(s appState) bool { return s.ShownAuthenticated == "false" && !s.Stored })
	}
	// Of the two refreshes of the shared token (answered in either order),
	// one rotated and the other was reuse; any later one (the tab that got
	// the 200, at its next refresh) finds the session revoked.
	sid := sidOf(rt)
	var statuses, shared []string
	for _, r := range env.rec.refreshes(sid) {
		status := fmt.Sprintf("%d %s", r.Status, str(r.Resp, "error_reason"))
		statuses = append(statuses, status)
		if str(r.Req, "refresh_token") == rt {
			shared = append(shared, status)
		} else if status != "400 refresh_token_reused" {
			t.Fatalf("a refresh after the reuse: %s; want 400 refresh_token_reused", status)
		}
	}
	slices.Sort(shared)
	if !slices.Equal(shared, []string{"200 ", "400 refresh_token_reused"}) {
		t.Fatalf("the refreshes of the shared token: %v; want one 200 and one 400 refresh_token_reused", shared)
	}
	t.Logf("two tabs without a reuse interval: both signed out %s after the second tab opened; refreshes %v",
		time.Since(start).Round(100*time.Millisecond), statuses)
}

// testAureliaRevoked: the session is signed out elsewhere; at its next
// refresh the library gets Latchkey's 400 and signs the app out, once.
func testAureliaRevoked(t *testing.T, env *aureliaEnv) {
	const email = "dave@example.com"
	signUp(t, env, email)
	p := env.open(t, "dave", "")
	p.mustCall(t, jsCall("login", email, aureliaPassword))
	s := p.waitFor(t, "signed in", pageStep, func(s appState) bool { return s.ShownAuthenticated == "true" })
	sid := sidOf(s.RefreshToken)
	p.start(t, "callsEvery(100)")
	// Sign out everywhere from another client (the canonical API).
	_, body := postJSON(t, env.latchkey.URL+"/auth/sign-in", map[string]string{"email": email, "password": aureliaPassword}, "")
	var other struct{ AccessToken string }
	if err := json.Unmarshal(body, &other); err != nil || other.AccessToken == "" {
		t.Fatalf("sign-in elsewhere: %s", body)
	}
	if status, body := postJSON(t, env.latchkey.URL+"/auth/sign-out", map[string]string{"scope": "global"}, other.AccessToken); status != http.StatusNoContent {
		t.Fatalf("sign-out everywhere: %d %s", status, body)
	}
	revoked, apiAtRevocation := time.Now(), env.api.of(sid)
	s = p.waitFor(t, "signed out by the refused refresh", refreshWait, func(s appState) bool { return s.ShownAuthenticated == "false" })
	refs := env.rec.refreshes(sid)
	if len(refs) != 1 || refs[0].Status != http.StatusBadRequest || str(refs[0].Resp, "error") != "invalid_grant" ||
		str(refs[0].Resp, "error_reason") != "session_revoked" {
		t.Fatalf("refreshes after the revocation: %+v; want one 400 invalid_grant session_revoked", refs)
	}
	if s.Stored || s.RefreshToken != "" || s.Hash != "#/" {
		t.Fatalf("after the refused refresh: %+v; want nothing stored and expiredRedirect #/", s)
	}
	// Until that refresh the app's own API went on as before: the access
	// token stays valid where it is verified without the database, until
	// it expires. Latchkey's getMe checks the session and refuses the token
	// at once (401 with a Bearer challenge), which aurelia passes to the
	// app as a failed call: no refresh, no sign-out.
	meAccepted, meRefused := 0, 0
	for _, ex := range env.rec.exchanges() {
		if ex.Path == "/auth/me" && ex.BearerSID == sid && ex.At.After(revoked) && ex.At.Before(refs[0].At) {
			switch ex.Status {
			case http.StatusOK:
				meAccepted++
			case http.StatusUnauthorized:
				meRefused++
			}
		}
	}
	apiAccepted := env.api.of(sid).ok - apiAtRevocation.ok
	if meAccepted != 0 || meRefused == 0 || apiAccepted == 0 {
		t.Fatalf("between the revocation and the refresh: getMe answered %d times and refused %d, the app's API answered %d times; want 0, > 0, > 0",
			meAccepted, meRefused, apiAccepted)
	}
	// No loop: the app's calls go on, unauthenticated, and fail; none of
	// them makes the library refresh again.
	failed := s.Calls.Failed
	s = p.waitFor(t, "four more failed calls", pageStep, func(s appState) bool { return s.Calls.Failed >= failed+4 })
	p.start(t, "stopCalls()")
	if n := len(env.rec.refreshes(sid)); n != 1 {
		t.Fatalf("%d refreshes after the revocation; want 1", n)
	}
	t.Logf("revoked session: signed out %s after the revocation, at its refresh; meanwhile getMe was refused %d times and the app's API answered %d times",
		refs[0].At.Sub(revoked).Round(100*time.Millisecond), meRefused, apiAccepted)
}

func isAuthenticated(t *testing.T, p appPage) bool {
	t.Helper()
	var b bool
	if err := json.Unmarshal(p.mustCall(t, "isAuthenticated()"), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// signUp creates a user through the canonical API.
func signUp(t *testing.T, env *aureliaEnv, email string) {
	t.Helper()
	if status, body := postJSON(t, env.latchkey.URL+"/auth/sign-up", map[string]string{"email": email, "password": aureliaPassword}, ""); status != http.StatusCreated {
		t.Fatalf("sign-up %s: %d %s", email, status, body)
	}
}

// expectRefused presents rt at the login URL as the library would, and
// requires Latchkey's 400 invalid_grant with reason.
func expectRefused(t *testing.T, env *aureliaEnv, rt, clientID, reason string) {
	t.Helper()
	body := map[string]string{"grant_type": "refresh_token", "refresh_token": rt}
	if clientID != "" {
		body["client_id"] = clientID
	}
	status, raw := postJSON(t, env.latchkey.URL+"/auth/login", body, "")
	var e struct{ Error, ErrorReason string }
	_ = json.Unmarshal(raw, &struct {
		Error       *string `json:"error"`
		ErrorReason *string `json:"error_reason"`
	}{&e.Error, &e.ErrorReason})
	if status != http.StatusBadRequest || e.Error != "invalid_grant" || e.ErrorReason != reason {
		t.Fatalf("refresh with the old refresh token: %d %s; want 400 invalid_grant %s", status, raw, reason)
	}
}
