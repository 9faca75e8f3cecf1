package web_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/latchkey-dev/latchkey/dpop"
	"github.com/latchkey-dev/latchkey/e2e/e2etest"
	"github.com/latchkey-dev/latchkey/internal/testkit"
)

// TestSDKDPoPInBrowser turns the SDK's DPoP on in Chromium against the real
// binary (DPOP_NONCE=on, so proofs carry server nonces), in each mode:
//
//   - the key pair in IndexedDB reports extractable === false, and the
//     session is bound to it (the access token's cnf.jkt is its RFC 7638
//     thumbprint);
//   - the key survives a reload, and a second tab uses the same key: both
//     call GET /auth/me and refresh with their proofs;
//   - the access token and the refresh token (body mode: read out of
//     IndexedDB; cookie mode: the HttpOnly cookie, read through the
//     browser's own cookie store) copied out of the browser are refused
//     when replayed without the key: as Bearer, as DPoP without a proof, and
//     with a proof by another key; the session is not harmed, and the page
//     goes on refreshing.
func TestSDKDPoPInBrowser(t *testing.T) {
	e2etest.RequireChromium(t, "the SDK's DPoP browser test")
	lib := sdkLib(t)
	for _, mode := range []string{"cookie", "body"} {
		t.Run(mode, func(t *testing.T) { sdkDPoP(t, mode, lib) })
	}
}

func sdkDPoP(t *testing.T, mode string, lib []byte) {
	const email = "dpop@example.com"
	// PUBLIC_URL, the URL clients use, which every proof's htu names: the
	// front's.
	srv, f := startSDKServer(t, lib, map[string]string{"JWT_EXPIRES_IN": sdkLifetime.String(), "DPOP_NONCE": "on"}, true, email)
	app := f.srv.URL + "/sdk-test/?dpop=1&mode=" + mode
	anchor := e2etest.StartBrowser(t, 2*time.Minute)
	tab := openSDKTab(t, anchor, mode+"-dpop1", app)
	tab.eval(t, fmt.Sprintf("t.signIn(%q, %q)", email, sdkPassword))

	type keyInfo struct {
		Extractable bool           `json:"extractable"`
		PublicJwk   map[string]any `json:"publicJwk"`
	}
	readKey := func(tb *sdkTab) keyInfo {
		var k keyInfo
		tb.evalInto(t, "t.keyInfo()", &k)
		return k
	}
	key := readKey(tab)
	if key.Extractable {
		t.Fatal("the DPoP private key is extractable")
	}
	jkt := thumbprint(t, key.PublicJwk)
	token := func(tb *sdkTab) string {
		var s string
		tb.evalInto(t, "t.token()", &s)
		return s
	}
	access := token(tab)
	if got := cnfJKT(t, access); got != jkt {
		t.Fatalf("access token cnf.jkt = %q, want the page key's thumbprint %q", got, jkt)
	}
	if got := string(tab.eval(t, "t.me()")); got != "200" {
		t.Fatalf("GET /auth/me with DPoP: %s", got)
	}

	// The key survives a reload and is shared by a second tab.
	tab.open(t, app)
	if got := string(tab.eval(t, "t.resume()")); got != "true" {
		t.Fatalf("resume after reload: %s", got)
	}
	if k := readKey(tab); thumbprint(t, k.PublicJwk) != jkt || k.Extractable {
		t.Fatalf("after a reload the key is %v (extractable %v), want %s", thumbprint(t, k.PublicJwk), k.Extractable, jkt)
	}
	tab2 := openSDKTab(t, anchor, mode+"-dpop2", app)
	if got := string(tab2.eval(t, "t.resume()")); got != "true" {
		t.Fatalf("second tab resume: %s", got)
	}
	if k := readKey(tab2); thumbprint(t, k.PublicJwk) != jkt {
		t.Fatalf("the second tab's key is %s, want %s", thumbprint(t, k.PublicJwk), jkt)
	}
	for _, tb := range []*sdkTab{tab, tab2} {
		tb.eval(t, fmt.Sprintf("t.startCalls(%d)", sdkCallEvery))
	}

	// Tokens copied out of the browser, replayed without the key.
	access = token(tab)
	var refreshReq func(proof string) (int, string, string)
	refreshURL, refreshMethod := f.srv.URL+"/token", "POST"
	if mode == "body" {
		var rt string
		if err := json.Unmarshal(tab.eval(t, "t.stolenRefreshToken()"), &rt); err != nil || rt == "" {
			t.Fatalf("read the refresh token out of IndexedDB: %q %v", rt, err)
		}
		refreshReq = func(proof string) (int, string, string) {
			return rawDo(t, "POST", srv.URL+"/token", `{"refreshToken":"`+rt+`"}`, map[string]string{"Content-Type": "application/json", "DPoP": proof})
		}
	} else {
		refreshURL, refreshMethod = f.srv.URL+"/api/refresh/refreshtoken", "GET"
		res, err := chromedp.Call(tab.Ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{refreshURL}})
		if err != nil || len(res.Cookies) != 1 || !res.Cookies[0].HTTPOnly {
			t.Fatalf("the refresh cookie: %+v %v", res.Cookies, err)
		}
		c := res.Cookies[0]
		refreshReq = func(proof string) (int, string, string) {
			return rawDo(t, "GET", srv.URL+"/api/refresh/refreshtoken", "", map[string]string{"Cookie": c.Name + "=" + c.Value, "DPoP": proof})
		}
	}
	// The thief's own key signs proofs; it follows the server's nonce as a
	// client would, so what refuses it is the key.
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherProof := func(method, url, at, nonce string) string {
		p, err := dpop.NewProof(other, method, url, dpop.ProofOptions{AccessToken: at, Nonce: nonce})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	withNonce := func(send func(proof string) (int, string, string), method, url, at string) (int, string) {
		status, body, nonce := send(otherProof(method, url, at, ""))
		if strings.Contains(body, "use_dpop_nonce") && nonce != "" {
			status, body, _ = send(otherProof(method, url, at, nonce))
		}
		if strings.Contains(body, "use_dpop_nonce") {
			t.Errorf("the thief's proof with the server's nonce is still refused for want of a nonce: %s", body)
		}
		return status, body
	}
	me := func(authorization string) func(proof string) (int, string, string) {
		return func(proof string) (int, string, string) {
			return rawDo(t, "GET", srv.URL+"/auth/me", "", map[string]string{"Authorization": authorization, "DPoP": proof})
		}
	}
	replay := func(what string, status int, body string, low, high int) {
		t.Logf("%s: replayed %s: %d %s", mode, what, status, strings.TrimSpace(body))
		if status < low || status > high {
			t.Errorf("%s replayed outside the browser: %d %s, want %d..%d", what, status, body, low, high)
		}
	}
	status, body, _ := me("Bearer " + access)("")
	replay("the access token as Bearer", status, body, 401, 401)
	status, body, _ = me("DPoP " + access)("")
	replay("the access token as DPoP without a proof", status, body, 401, 401)
	status, body = withNonce(me("DPoP "+access), "GET", f.srv.URL+"/auth/me", access)
	replay("the access token with another key's proof", status, body, 401, 401)
	if !strings.Contains(body, "key_mismatch") {
		t.Errorf("another key's proof with the access token: %s, want reason key_mismatch", body)
	}
	status, body, _ = refreshReq("")
	replay("the refresh token without a proof", status, body, 400, 499)
	status, body = withNonce(refreshReq, refreshMethod, refreshURL, "")
	replay("the refresh token with another key's proof", status, body, 400, 499)
	if !strings.Contains(body, "key_mismatch") {
		t.Errorf("another key's proof with the refresh token: %s, want reason key_mismatch", body)
	}

	// The session is unharmed: the tabs go on refreshing and calling.
	base := tab.stats(t)
	deadline := time.Now().Add(4 * sdkLifetime)
	for {
		s := tab.stats(t)
		if s.SignedOut != "" || len(s.Failed) > 0 {
			t.Fatalf("after the replays: signed out %q, failed calls %q", s.SignedOut, first(s.Failed, 5))
		}
		if s.Tokens >= base.Tokens+2 && s.OK > base.OK+5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not go on refreshing after the replays: %+v (before %+v)", s, base)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := cnfJKT(t, token(tab2)); got != jkt {
		t.Errorf("after refreshes the token is bound to %q, want %q", got, jkt)
	}
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of an EC public JWK.
func thumbprint(t *testing.T, jwk map[string]any) string {
	t.Helper()
	if _, private := jwk["d"]; jwk["kty"] != "EC" || jwk["crv"] != "P-256" || private {
		t.Fatalf("public JWK %v", jwk)
	}
	canon := fmt.Sprintf(`{"crv":%q,"kty":%q,"x":%q,"y":%q}`, jwk["crv"], jwk["kty"], jwk["x"], jwk["y"]) // RFC 7638 §3.2
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func cnfJKT(t *testing.T, jwt string) string {
	t.Helper()
	var c struct {
		Cnf struct{ JKT string } `json:"cnf"`
	}
	testkit.Claims(t, jwt, &c)
	return c.Cnf.JKT
}

// rawDo sends one request from outside the browser (empty header values
// are left out) and returns the answer's status, body and DPoP-Nonce.
func rawDo(t *testing.T, method, url, body string, headers map[string]string) (status int, respBody, nonce string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("DPoP-Nonce")
}
