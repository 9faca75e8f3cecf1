package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
)

// Bounds of the browser test. The access lifetime is short so that the page
// renews its token every ~3.2 s; the waits are real time, because waiting
// is the behaviour under test (the browser's clock cannot be injected).
const (
	accessLifetime  = 4 * time.Second
	browserTimeout  = 2 * time.Minute  // the whole test, browser included
	stepTimeout     = 10 * time.Second // one page load, sign-in or DOM read
	renewalDeadline = 20 * time.Second // until every tab has renewed twice
	revokeDeadline  = 10 * time.Second // until the revoked tab shows the form
	pollInterval    = 100 * time.Millisecond
)

// TestAccountPageInBrowser drives the account page in headless Chromium
// against the real binary, with a 4 s access lifetime and no reuse grace
// (REFRESH_TOKEN_REUSE_INTERVAL=0s), so any two refreshes of one session
// that overlapped would revoke it at once:
//
//   - browser context A (the profile's own) opens two tabs: A1 signs in
//     through the form, A2 signs in silently through the shared cookie
//     (one session, two tabs: the multi-tab coordination);
//   - browser context B, a separate cookie jar like a private window, signs
//     in through the form (a second session of the same user);
//   - all three tabs renew their access token at least twice and stay
//     signed in; the server lists both sessions, refreshed and live;
//   - A1 revokes B's session with its revoke button: B shows the sign-in
//     form with "revoked" at its next refresh, A stays signed in;
//   - A2 signs out everywhere: A1 follows at once (BroadcastChannel), and
//     the server has revoked every session.
//
// A screenshot of the signed-in page (and of B after the revoke) is saved
// in $LATCHKEY_ARTIFACTS, else $TMPDIR/latchkey-artifacts.
func TestAccountPageInBrowser(t *testing.T) {
	e2etest.RequireChromium(t, "the browser test")
	if testing.Short() {
		t.Skip("-short: the browser test waits ~20 s of real time")
	}
	srv := e2etest.StartServer(t, map[string]string{
		"JWT_EXPIRES_IN":               accessLifetime.String(),
		"REFRESH_TOKEN_REUSE_INTERVAL": "0s",
		"RATE_LIMITS":                  "off",
	})
	const email, password = "page@example.com", "correct horse battery staple"
	api := &apiClient{t: t, base: srv.URL}
	if status, body := api.do("POST", "/auth/sign-up", map[string]string{"email": email, "password": password}, ""); status != http.StatusCreated {
		t.Fatalf("sign-up: %d %s", status, body)
	}

	a1 := startBrowser(t)
	a2 := a1.newTab(t, "A2", false)
	b1 := a1.newTab(t, "B1", true)

	// A1: no cookie yet, so the silent refresh fails quietly and the form
	// shows; sign in.
	a1.open(t, srv.URL)
	a1.waitFor(t, "the sign-in form", stepTimeout, func(v pageView) bool { return v.State == "signed-out" })
	a1.signIn(t, email, password)
	va1 := a1.waitFor(t, "signed in with the session listed", stepTimeout, func(v pageView) bool {
		return v.State == "signed-in" && v.Email == email && v.Current != ""
	})
	if va1.Message != "" {
		t.Errorf("A1 after sign-in shows a message: %q", va1.Message)
	}

	// A2: the same browser context, so the same cookie: signed in without
	// the form, in the same session.
	a2.open(t, srv.URL)
	va2 := a2.waitFor(t, "signed in silently through the cookie", stepTimeout, func(v pageView) bool {
		return v.State == "signed-in" && v.Current != ""
	})
	if va2.Email != email || va2.Current != va1.Current {
		t.Fatalf("A2 is signed in as %q in session %s; want %q in A1's session %s", va2.Email, va2.Current, email, va1.Current)
	}

	// B1: another browser context, no cookie: the form, then a session of
	// its own.
	b1.open(t, srv.URL)
	b1.waitFor(t, "the sign-in form (its own cookie jar)", stepTimeout, func(v pageView) bool { return v.State == "signed-out" })
	b1.signIn(t, email, password)
	vb1 := b1.waitFor(t, "signed in", stepTimeout, func(v pageView) bool { return v.State == "signed-in" && v.Current != "" })
	sessionA, sessionB := va1.Current, vb1.Current
	if sessionA == sessionB {
		t.Fatalf("A and B share session %s: the browser contexts share cookies", sessionA)
	}

	// Wait past the access lifetime, twice, in every tab. No tab may fall
	// back to the form meanwhile: with no reuse grace, one overlapping
	// refresh in A would revoke A's session.
	start := time.Now()
	tabs := []*browserTab{a1, a2, b1}
	views := waitAll(t, tabs, "two renewals in every tab", renewalDeadline, func(v pageView) bool { return v.Renewals >= 2 })
	t.Logf("renewals after %s: A1 %d (%d refreshed there), A2 %d (%d), B1 %d (%d)", time.Since(start).Round(100*time.Millisecond),
		views[0].Renewals, views[0].Own, views[1].Renewals, views[1].Own, views[2].Renewals, views[2].Own)
	if views[0].Renewals == views[0].Own && views[1].Renewals == views[1].Own {
		t.Errorf("neither tab of A adopted a token the other refreshed (A1 %d/%d, A2 %d/%d): the tabs do not share tokens",
			views[0].Own, views[0].Renewals, views[1].Own, views[1].Renewals)
	}

	// The server agrees: both sessions live, each refreshed since sign-in.
	// (The test's own sign-in adds a third session, listed by the pages.)
	api.signIn(email, password)
	live := api.sessions()
	for _, id := range []string{sessionA, sessionB} {
		s, ok := live[id]
		if !ok {
			t.Fatalf("session %s is not live on the server (revoked by reuse detection?); live: %v", id, keys(live))
		}
		if !s.LastRefreshedAt.After(s.CreatedAt) {
			t.Errorf("session %s was never refreshed on the server: created %s, last refreshed %s", id, s.CreatedAt, s.LastRefreshedAt)
		}
	}
	a1.waitFor(t, "three sessions listed", stepTimeout, func(v pageView) bool { return len(v.Sessions) == 3 })
	shot := a1.screenshot(t, "account-page-signed-in.png")
	t.Logf("screenshot of the signed-in page: %s", shot)

	// A1 revokes B's session; B finds out at its next refresh.
	a1.click(t, fmt.Sprintf(`#sessions-body button[data-revoke=%q]`, sessionB))
	a1.waitFor(t, "B's session gone from the list", stepTimeout, func(v pageView) bool {
		return v.State == "signed-in" && !slices.Contains(v.Sessions, sessionB)
	})
	revoked := time.Now()
	vb1 = b1.waitFor(t, "the sign-in form after its session was revoked", revokeDeadline, func(v pageView) bool { return v.State == "signed-out" })
	t.Logf("B1 signed out %s after the revoke: %q", time.Since(revoked).Round(100*time.Millisecond), vb1.Message)
	if !strings.Contains(vb1.Message, "revoked") {
		t.Errorf("B1's message = %q; want it to say the session was revoked", vb1.Message)
	}
	b1.screenshot(t, "account-page-revoked.png")
	for _, tab := range []*browserTab{a1, a2} {
		if v := tab.view(t); v.State != "signed-in" || v.Current != sessionA {
			t.Errorf("%s after revoking B: %s in session %s, message %q", tab.Name, v.State, v.Current, v.Message)
		}
	}
	live = api.sessions()
	if _, ok := live[sessionB]; ok {
		t.Errorf("session B %s is still live on the server", sessionB)
	}
	if _, ok := live[sessionA]; !ok {
		t.Errorf("session A %s is no longer live on the server", sessionA)
	}

	// A2 signs out everywhere; A1 follows through the channel, and every
	// session of the user is revoked on the server.
	a2.click(t, "#signout-all")
	for _, tab := range []*browserTab{a2, a1} {
		v := tab.waitFor(t, "the sign-in form after sign-out everywhere", stepTimeout, func(v pageView) bool { return v.State == "signed-out" })
		if !strings.Contains(v.Message, "Signed out everywhere") {
			t.Errorf("%s's message = %q; want \"Signed out everywhere.\"", tab.Name, v.Message)
		}
	}
	if status, body := api.do("POST", "/token", map[string]string{"refreshToken": api.refresh}, ""); status != http.StatusBadRequest {
		t.Errorf("refresh of the test's own session after sign-out everywhere: %d %s; want 400", status, body)
	}
}

// artifactsDir is where screenshots go: $LATCHKEY_ARTIFACTS, else
// $TMPDIR/latchkey-artifacts (t.TempDir() is deleted when the test ends).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LATCHKEY_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "latchkey-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserTab is one tab of the headless browser (e2etest.StartBrowser).
type browserTab struct {
	*e2etest.Tab
}

// startBrowser starts headless Chromium with a fresh profile and returns
// its first tab (browser context A, the profile's own).
func startBrowser(t *testing.T) *browserTab {
	t.Helper()
	tab := e2etest.StartBrowser(t, browserTimeout)
	tab.Name = "A1"
	return &browserTab{tab}
}

// newTab opens another tab: in the same browser context as tb (same
// cookies, Web Locks and BroadcastChannel), or in a new one, which shares
// nothing with the others, like a private window.
func (tb *browserTab) newTab(t *testing.T, name string, newBrowserContext bool) *browserTab {
	t.Helper()
	return &browserTab{tb.NewTab(t, name, newBrowserContext)}
}

func (tb *browserTab) step(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.Ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %s: %v", tb.Name, what, err)
	}
}

func (tb *browserTab) open(t *testing.T, url string) {
	t.Helper()
	tb.step(t, "open "+url, chromedp.Navigate(url))
}

func (tb *browserTab) signIn(t *testing.T, email, password string) {
	t.Helper()
	tb.step(t, "sign in through the form",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("signin-button")),
	)
}

func (tb *browserTab) click(t *testing.T, css string) {
	t.Helper()
	tb.step(t, "click "+css, chromedp.Click(chromedp.CSS(css)))
}

// pageView is what the page shows, read from its DOM.
type pageView struct {
	State     string   `json:"state"` // body[data-state]: loading, signed-out, signed-in
	Email     string   `json:"email"`
	Countdown string   `json:"countdown"`
	Renewals  int      `json:"renewals"`
	Own       int      `json:"own"` // renewals this tab fetched itself
	Message   string   `json:"message"`
	Current   string   `json:"current"`  // the session marked current
	Sessions  []string `json:"sessions"` // the listed session ids
}

const readView = `(() => {
  const q = (s) => document.querySelector(s);
  const msg = q('#message');
  const cur = q('#sessions-body tr.current');
  return {
    state: document.body.dataset.state || '',
    email: q('#user-email').textContent,
    countdown: q('#countdown').textContent,
    renewals: Number(q('#renewals').textContent),
    own: Number(q('#own-refreshes').textContent),
    message: msg.hidden ? '' : msg.textContent,
    current: cur ? cur.dataset.sessionId : '',
    sessions: [...document.querySelectorAll('#sessions-body tr')].map((tr) => tr.dataset.sessionId),
  };
})()`

func (tb *browserTab) view(t *testing.T) pageView {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.Ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[pageView](readView))
	if err != nil {
		t.Fatalf("%s: read the page: %v", tb.Name, err)
	}
	return v
}

// waitFor polls the page until ok holds, failing the test after timeout.
func (tb *browserTab) waitFor(t *testing.T, what string, timeout time.Duration, ok func(pageView) bool) pageView {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := tb.view(t)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s within %s; the page shows %+v", tb.Name, what, timeout, v)
		}
		time.Sleep(pollInterval)
	}
}

// waitAll polls every tab until ok holds in all of them, failing the test
// after timeout, or as soon as one tab is no longer signed in.
func waitAll(t *testing.T, tabs []*browserTab, what string, timeout time.Duration, ok func(pageView) bool) []pageView {
	t.Helper()
	deadline := time.Now().Add(timeout)
	views := make([]pageView, len(tabs))
	for {
		done := true
		for i, tab := range tabs {
			views[i] = tab.view(t)
			if views[i].State != "signed-in" {
				t.Fatalf("%s fell out of the signed-in state while waiting for %s: %+v", tab.Name, what, views[i])
			}
			done = done && ok(views[i])
		}
		if done {
			return views
		}
		if time.Now().After(deadline) {
			t.Fatalf("not %s within %s: %+v", what, timeout, views)
		}
		time.Sleep(pollInterval)
	}
}

// screenshot saves a PNG of the whole page in the artifacts directory and
// returns its path.
func (tb *browserTab) screenshot(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.Ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("%s: screenshot: %v", tb.Name, err)
	}
	path := filepath.Join(artifactsDir(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// apiClient is the test's own client of the canonical API, with its own
// session (no cookies).
type apiClient struct {
	t       *testing.T
	base    string
	access  string
	refresh string
}

func (a *apiClient) do(method, path string, body any, bearer string) (int, []byte) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp.StatusCode, raw
}

func (a *apiClient) tokens(method, path string, body any) {
	a.t.Helper()
	status, raw := a.do(method, path, body, "")
	if status != http.StatusOK {
		a.t.Fatalf("%s %s: %d %s", method, path, status, raw)
	}
	var tk struct{ AccessToken, RefreshToken string }
	if err := json.Unmarshal(raw, &tk); err != nil || tk.AccessToken == "" || tk.RefreshToken == "" {
		a.t.Fatalf("%s %s: %s (%v)", method, path, raw, err)
	}
	a.access, a.refresh = tk.AccessToken, tk.RefreshToken
}

func (a *apiClient) signIn(email, password string) {
	a.tokens("POST", "/auth/sign-in", map[string]string{"email": email, "password": password})
}

type serverSession struct {
	ID              string    `json:"id"`
	CreatedAt       time.Time `json:"createdAt"`
	LastRefreshedAt time.Time `json:"lastRefreshedAt"`
}

// sessions refreshes the client's own tokens (the access token lives 4 s)
// and returns the user's live sessions by id.
func (a *apiClient) sessions() map[string]serverSession {
	a.t.Helper()
	a.tokens("POST", "/token", map[string]string{"refreshToken": a.refresh})
	status, raw := a.do("GET", "/auth/sessions", nil, a.access)
	if status != http.StatusOK {
		a.t.Fatalf("GET /auth/sessions: %d %s", status, raw)
	}
	var body struct{ Sessions []serverSession }
	if err := json.Unmarshal(raw, &body); err != nil {
		a.t.Fatal(err)
	}
	out := map[string]serverSession{}
	for _, s := range body.Sessions {
		out[s.ID] = s
	}
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
