package latchkey_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/httpapi/ratelimit"
)

// signInVia posts a sign-in as a reverse proxy on the loopback address
// would forward it for client.
func (a *api) signInVia(t *testing.T, client, email, pw string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", a.URL+"/auth/sign-in", strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, pw)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", client)
	resp, err := a.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// attack: an application behind a reverse proxy it has not declared in
// Options.TrustedProxies (the usual first deployment: nginx, an ingress, a
// platform's router) sees one client address, the proxy's. The default
// throttle (on by default) then counts every user together: 50 failed
// sign-ins by anyone (an attacker's, at no cost) lock every user out of
// sign-in for 15 minutes, and nothing said why. Latchkey cannot tell a
// proxy from a client forging X-Forwarded-For, so it must not guess; it
// warns, once, naming the peer and the option.
func TestUndeclaredProxyIsReported(t *testing.T) {
	limit := ratelimit.DefaultLimits().SigninFailuresPerIP.Count
	flood := func(a *api) int {
		for i := range limit {
			if code := a.signInVia(t, "203.0.113.66", fmt.Sprintf("victim%d@example.com", i), "guess"); code != 401 {
				t.Fatalf("failed sign-in %d: %d", i+1, code)
			}
		}
		return a.signInVia(t, "198.51.100.7", "ann@example.com", "correct horse")
	}

	undeclared := newAPI(t, nil, nil)
	if code := flood(undeclared); code != 429 {
		t.Fatalf("control: behind an undeclared proxy, ann after another client's %d failures: %d; want 429 (one address for all)", limit, code)
	}
	var warnings []string
	for _, line := range strings.Split(undeclared.log.String(), "\n") {
		if strings.Contains(line, "TrustedProxies") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "level=WARN") || !strings.Contains(warnings[0], "127.0.0.1") {
		t.Errorf("requests forwarded by an undeclared proxy: want one warning naming the proxy (127.0.0.1) and TrustedProxies; got %q", warnings)
	}

	declared := newAPI(t, nil, func(o *latchkey.Options) { o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	if code := flood(declared); code != 200 {
		t.Errorf("behind a declared proxy, ann after another client's failures: %d; want 200", code)
	}
	if strings.Contains(declared.log.String(), "TrustedProxies") {
		t.Errorf("a declared proxy was warned about:\n%s", declared.log.String())
	}
}
