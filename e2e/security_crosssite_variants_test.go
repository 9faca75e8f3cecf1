package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// Variants of the cross-site rule tried as an attacker would:
// the deployment is https://auth.example.com behind a proxy that keeps the
// Host header, so the request's Host is the public host. Each Origin is
// what a browser would send from the page that submits a form with the
// attacker's credentials to the sign-in; a refused one gets the 403 and no
// cookie, an accepted one the cookie.

// secHostDo is secMustDo with the request's Host set (what the proxy
// forwarded).
func secHostDo(t *testing.T, s *servertest.Server, method, path, host, ctype, body string, headers ...string) *secResponse {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &secResponse{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// A page served over plain http on the server's own host is another origin
// (RFC 6454 §4: the scheme is part of it), and the one a network attacker
// can forge: on a first visit, or wherever HSTS is not preloaded, it answers
// http://auth.example.com/ itself, and its form POST to the https sign-in
// carries "Origin: http://auth.example.com". Counting it as same-origin
// because the host matches let that page sign the victim in as the attacker
// (login CSRF), and it defeats the __Host- cookie prefix, which exists so
// that an insecure origin cannot plant the cookie.
func TestCrossSiteRuleComparesTheScheme(t *testing.T) {
	const host = "auth.example.com"
	s := servertest.Start(t, func(c *config.Config) { c.PublicURL = "https://" + host })
	s.SignUp(t, "mallory@example.com", secPassword)
	login := url.Values{"email": {"mallory@example.com"}, "password": {secPassword}}.Encode()
	for origin, refused := range map[string]bool{
		"http://" + host:            true, // the same host over plain http
		"https://" + host:           false,
		"https://" + host + ":8443": true, // another port
		"https://app." + host:       true, // a subdomain
	} {
		r := secHostDo(t, s, "POST", "/auth/login", host, confForm, login, "Origin: "+origin)
		if refused && (r.Status != http.StatusForbidden || secRefreshCookie(r) != "") {
			t.Errorf("Origin %s: %d, Set-Cookie %q; want 403 without the cookie", origin, r.Status, secRefreshCookie(r))
		}
		if !refused && (r.Status != http.StatusOK || secRefreshCookie(r) == "") {
			t.Errorf("Origin %s: %d %s; want 200 with the cookie", origin, r.Status, r.Body)
		}
	}

}
