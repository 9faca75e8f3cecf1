package cookie_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/server/servertest"
)

// client is a browser stand-in: a real RFC 6265 cookie jar in front of the
// test server.
type client struct {
	t   *testing.T
	s   *servertest.Server
	c   *http.Client
	jar *cookiejar.Jar
}

func newClient(t *testing.T, s *servertest.Server) *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *s.Client()
	c.Jar = jar
	return &client{t: t, s: s, c: &c, jar: jar}
}

func (c *client) do(method, path, ctype, body string, header ...string) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.s.URL+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

// cookie returns the refresh cookie the jar would send to the refresh route.
func (c *client) cookie() string {
	u, _ := url.Parse(c.s.URL + route)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == "refreshToken" {
			return ck.Value
		}
	}
	return ""
}

// A cookie set by the sign-in of every dialect is sent back by a real
// cookie jar to GET /api/refresh/refreshtoken (its Path covers the route
// whichever route set it), and the rotated cookie replaces it.
func TestCookieJarAcrossDialects(t *testing.T) {
	s := servertest.Start(t, nil)
	s.SignUp(t, ann, pw)
	for _, signIn := range []struct {
		name, path, ctype, body string
	}{
		{"canonical", "/auth/sign-in", "application/json", `{"email":"ann@example.com","password":"password123"}`},
		{"oauth2", "/oauth/token", "application/x-www-form-urlencoded", "grant_type=password&username=ann%40example.com&password=password123"},
		{"login", "/auth/login", "application/json", `{"email":"ann@example.com","password":"password123"}`},
	} {
		t.Run(signIn.name, func(t *testing.T) {
			c := newClient(t, s)
			if st, body := c.do("POST", signIn.path, signIn.ctype, signIn.body); st != http.StatusOK {
				t.Fatalf("sign-in: %d %v", st, body)
			}
			first := c.cookie()
			if first == "" {
				t.Fatal("the jar holds no refresh cookie for " + route)
			}
			for i := range 2 {
				st, body := c.do("GET", route, "", "")
				if st != http.StatusOK || body["accessToken"] == nil {
					t.Fatalf("refresh %d: %d %v", i, st, body)
				}
			}
			if c.cookie() == first || c.cookie() == "" {
				t.Fatal("the jar did not take the rotated cookie")
			}
		})
	}
}

// Canonical sign-out clears the cookie in the jar; the next cookie refresh
// has nothing to send.
func TestSignOutClearsCookie(t *testing.T) {
	s := servertest.Start(t, nil)
	s.SignUp(t, ann, pw)
	c := newClient(t, s)
	st, body := c.do("POST", "/auth/sign-in", "application/json", `{"email":"ann@example.com","password":"password123"}`)
	if st != http.StatusOK || c.cookie() == "" {
		t.Fatalf("sign-in: %d %v", st, body)
	}
	access, _ := body["accessToken"].(string)
	if st, body := c.do("POST", "/auth/sign-out", "", "", "Authorization", "Bearer "+access); st != http.StatusNoContent {
		t.Fatalf("sign-out: %d %v", st, body)
	}
	if c.cookie() != "" {
		t.Fatal("the cookie survived sign-out")
	}
	if st, body := c.do("GET", route, "", ""); st != http.StatusBadRequest || body["error"] != "refresh_token_missing" {
		t.Fatalf("refresh after sign-out: %d %v", st, body)
	}
}

// A session started with a client_id is bound to that client: only a
// request that names it may refresh it (RFC 9700 §4.14), and the cookie
// refresh names none. A browser that signed in with a client_id (aurelia's
// clientId, an OAuth client) got the refresh cookie all the same, and its
// first cookie refresh was refused and cleared the cookie: the browser was
// signed out. Whatever cookie the server sets, the cookie refresh must take;
// the client's own refresh keeps working.
func TestCookieJarWithClientID(t *testing.T) {
	s := servertest.Start(t, nil)
	s.SignUp(t, ann, pw)
	for _, signIn := range []struct {
		name, path, ctype, body, refresh string
	}{
		{"oauth2", "/oauth/token", "application/x-www-form-urlencoded",
			"grant_type=password&username=ann%40example.com&password=password123&client_id=my-spa", "/oauth/token"},
		{"login", "/auth/login", "application/json",
			`{"email":"ann@example.com","password":"password123","client_id":"my-spa"}`, "/auth/login"},
	} {
		t.Run(signIn.name, func(t *testing.T) {
			c := newClient(t, s)
			st, body := c.do("POST", signIn.path, signIn.ctype, signIn.body)
			if st != http.StatusOK {
				t.Fatalf("sign-in: %d %v", st, body)
			}
			if c.cookie() != "" {
				if st, got := c.do("GET", route, "", ""); st != http.StatusOK {
					t.Errorf("the cookie the sign-in set is refused by the cookie refresh: %d %v", st, got)
				}
			}
			rt, _ := body["refresh_token"].(string)
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"my-spa"}}
			if st, got := c.do("POST", signIn.refresh, "application/x-www-form-urlencoded", form.Encode()); st != http.StatusOK {
				t.Fatalf("the client's own refresh: %d %v", st, got)
			}
		})
	}
}
