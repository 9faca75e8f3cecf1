package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey-dev/latchkey/httpapi"
)

func mustOrigins(t *testing.T, list ...string) httpapi.Origins {
	t.Helper()
	o, err := httpapi.NewOrigins(list)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestNewOrigins(t *testing.T) {
	o := mustOrigins(t, "https://App.Example.com/", " http://localhost:3000 ", "https://b.example.com:443", "", "http://[::1]:8080")
	for origin, want := range map[string]bool{
		"https://app.example.com": true,
		"http://localhost:3000":   true,
		"https://b.example.com":   true,
		"http://[::1]:8080":       true,
		"http://app.example.com":  false, // another scheme is another origin
		"https://evil.com":        false,
		"null":                    false,
		"":                        false,
	} {
		if got := o.Allowed(origin); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", origin, got, want)
		}
	}
	for _, bad := range []string{"*", "null", "app.example.com", "https://a.example.com/path", "ftp://a.example.com", "https://u@a.example.com", "https://"} {
		if _, err := httpapi.NewOrigins([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if (httpapi.Origins{}).Allowed("https://app.example.com") {
		t.Error("zero Origins allows")
	}
}

func TestCORSOverHTTP(t *testing.T) {
	o := mustOrigins(t, "https://app.example.com")
	reached := 0
	srv := serve(t, httpapi.CORS(o)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		w.Write([]byte("ok"))
	})))
	preflight := []string{"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type"}

	t.Run("allowed preflight", func(t *testing.T) {
		res := do(t, srv, "OPTIONS", "/token", "", nil, append([]string{"Origin", "https://app.example.com"}, preflight...)...)
		want := map[string]string{
			"Access-Control-Allow-Origin":      "https://app.example.com",
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Methods":     "GET, POST, DELETE, OPTIONS",
			"Access-Control-Allow-Headers":     "Authorization, Content-Type, DPoP",
			"Access-Control-Max-Age":           "7200",
		}
		if res.Status != 204 {
			t.Fatalf("status %d", res.Status)
		}
		for k, v := range want {
			if got := res.Header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if res.Header.Values("Vary")[0] != "Origin" {
			t.Errorf("Vary = %q", res.Header.Values("Vary"))
		}
	})
	t.Run("refused preflight", func(t *testing.T) {
		res := do(t, srv, "OPTIONS", "/token", "", nil, append([]string{"Origin", "https://evil.example"}, preflight...)...)
		if res.Status != 403 {
			t.Fatalf("status %d", res.Status)
		}
		for k := range res.Header {
			if len(k) > 15 && k[:15] == "Access-Control-" {
				t.Errorf("CORS header %s on a refusal", k)
			}
		}
	})
	t.Run("allowed request", func(t *testing.T) {
		res := do(t, srv, "POST", "/token", "", nil, "Origin", "https://app.example.com")
		if res.Status != 200 || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			res.Header.Get("Access-Control-Allow-Credentials") != "true" ||
			res.Header.Get("Access-Control-Expose-Headers") != "Retry-After, DPoP-Nonce, WWW-Authenticate, Date" || res.Header.Get("Vary") != "Origin" {
			t.Fatalf("%d %v", res.Status, res.Header)
		}
	})
	t.Run("disallowed request gets no CORS headers", func(t *testing.T) {
		res := do(t, srv, "POST", "/token", "", nil, "Origin", "https://evil.example")
		if res.Header.Get("Access-Control-Allow-Origin") != "" || res.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("%v", res.Header)
		}
		if res.Header.Get("Vary") != "Origin" {
			t.Error("no Vary: Origin")
		}
	})
	t.Run("no origin", func(t *testing.T) {
		before := reached
		res := do(t, srv, "OPTIONS", "/token", "", nil, preflight...)
		if res.Header.Get("Access-Control-Allow-Origin") != "" || reached != before+1 {
			t.Fatalf("%d %v", res.Status, res.Header)
		}
	})
}

func TestSameOriginOrAllowed(t *testing.T) {
	o := mustOrigins(t, "https://app.example.com")
	tests := []struct {
		name    string
		host    string
		headers []string
		want    bool
	}{
		{"no Origin (curl, server-side client)", "api.example.com", nil, true},
		{"no Origin, same-origin fetch metadata", "api.example.com", []string{"Sec-Fetch-Site", "same-origin"}, true},
		{"no Origin, cross-site navigation", "api.example.com", []string{"Sec-Fetch-Site", "cross-site"}, false},
		{"same host", "api.example.com", []string{"Origin", "https://api.example.com"}, true},
		{"same host and port", "localhost:8080", []string{"Origin", "http://localhost:8080"}, true},
		{"other port", "localhost:8080", []string{"Origin", "http://localhost:3000"}, false},
		{"allowed origin", "api.example.com", []string{"Origin", "https://app.example.com"}, true},
		{"cross-site", "api.example.com", []string{"Origin", "https://evil.example"}, false},
		{"look-alike host", "api.example.com", []string{"Origin", "https://api.example.com.evil.example"}, false},
		{"null origin", "api.example.com", []string{"Origin", "null"}, false},
		{"garbage origin", "api.example.com", []string{"Origin", "::::"}, false},
		// WithSelf: behind a proxy that rewrites Host, the public origin is
		// still this server's; the path of a base URL does not matter.
		{"public origin, Host rewritten", "latchkey.internal:8080", []string{"Origin", "https://auth.example.com"}, true},
		{"issuer origin", "latchkey.internal:8080", []string{"Origin", "https://id.example.com:8443"}, true},
		{"public origin over http", "latchkey.internal:8080", []string{"Origin", "http://auth.example.com"}, false},
	}
	self := o.WithSelf("https://auth.example.com/lk", "https://ID.example.com:8443", "not a url", "")
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/api/refresh/refreshtoken", nil)
		r.Host = tt.host
		for i := 0; i+1 < len(tt.headers); i += 2 {
			r.Header.Set(tt.headers[i], tt.headers[i+1])
		}
		if got := self.SameOriginOrAllowed(r); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		if tt.host != "latchkey.internal:8080" && o.SameOriginOrAllowed(r) != tt.want {
			t.Errorf("%s: without WithSelf: got %v", tt.name, !tt.want)
		}
	}
	if self.Allowed("https://auth.example.com") {
		t.Error("WithSelf made the public origin a CORS origin")
	}
}

// The scheme is part of the origin (RFC 6454 §4): a page over plain http
// on this server's host is not the server's own when the server is known
// to be https, by PUBLIC_URL (WithSelf) or by the connection itself.
func TestSameOriginComparesTheScheme(t *testing.T) {
	self := mustOrigins(t).WithSelf("https://auth.example.com")
	for _, tt := range []struct {
		name, url, origin string
		o                 httpapi.Origins
		want              bool
	}{
		{"https public origin, http page on its host", "http://auth.example.com/auth/login", "http://auth.example.com", self, false},
		{"https public origin, https page", "http://auth.example.com/auth/login", "https://auth.example.com", self, true},
		{"TLS connection, http page on its host", "https://auth.example.com/auth/login", "http://auth.example.com", mustOrigins(t), false},
		{"TLS connection, https page", "https://auth.example.com/auth/login", "https://auth.example.com", mustOrigins(t), true},
		{"plain http, nothing known: the host decides", "http://localhost:8080/auth/login", "http://localhost:8080", mustOrigins(t), true},
	} {
		r := httptest.NewRequest("POST", tt.url, nil) // an https URL sets r.TLS
		r.Header.Set("Origin", tt.origin)
		if got := tt.o.SameOriginOrAllowed(r); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// OAuthText keeps an error_description to RFC 6749 §5.2's characters.
func TestOAuthText(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, ok!":                "plain text, ok!",
		`field "x" is \bad`:              `field 'x' is /bad`,
		"naïve \\u00e9 “quoted” \n\ttab": "na?ve /u00e9 ?quoted? ??tab",
		"":                               "",
	} {
		if got := httpapi.OAuthText(in); got != want {
			t.Errorf("OAuthText(%q) = %q, want %q", in, got, want)
		}
	}
}
