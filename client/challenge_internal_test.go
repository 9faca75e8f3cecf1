package client

import (
	"net/http"
	"net/url"
	"testing"
)

func TestChallengeError(t *testing.T) {
	for _, tt := range []struct {
		fields []string
		want   string
	}{
		{[]string{`Bearer error="invalid_token"`}, "invalid_token"},
		{[]string{`Bearer realm="latchkey", error="invalid_token"`}, "invalid_token"},
		{[]string{`bearer ERROR=invalid_token`}, "invalid_token"},
		{[]string{`Bearer realm="a, b=c", error_description="say \"error=x\"", error="insufficient_scope"`}, "insufficient_scope"},
		{[]string{`Basic realm="x", Bearer error="invalid_token"`}, "invalid_token"},
		{[]string{`Negotiate abc/+==, Bearer error="invalid_token"`}, "invalid_token"},
		{[]string{`Basic realm="x"`, `Bearer error="invalid_token"`}, "invalid_token"},
		{[]string{`Basic error="invalid_token"`}, ""},
		{[]string{`Bearer realm="api"`}, ""},
		{[]string{`Bearer`}, ""},
		{[]string{`Bearer error="unterminated`}, "unterminated"},
		{[]string{`Bearer error=`}, ""},
		{[]string{``}, ""},
		{nil, ""},
	} {
		h := http.Header{}
		for _, f := range tt.fields {
			h.Add("WWW-Authenticate", f)
		}
		if got := challengeError(h, "Bearer"); got != tt.want {
			t.Errorf("challengeError(%q, Bearer) = %q; want %q", tt.fields, got, tt.want)
		}
	}
}

// The DPoP challenge (RFC 9449 §7.1) is read apart from the Bearer one
// beside it.
func TestDPoPChallengeError(t *testing.T) {
	h := http.Header{}
	h.Add("WWW-Authenticate", `Bearer error="invalid_token"`)
	h.Add("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="ES256 EdDSA"`)
	if got := challengeError(h, "DPoP"); got != "use_dpop_nonce" {
		t.Errorf("DPoP: %q", got)
	}
	if got := challengeError(h, "Bearer"); got != "invalid_token" {
		t.Errorf("Bearer: %q", got)
	}
	one := http.Header{"Www-Authenticate": {`Bearer, DPoP algs="ES256"`}}
	if got := challengeError(one, "DPoP"); got != "" {
		t.Errorf("a DPoP challenge without error: %q", got)
	}
}

func TestOrigin(t *testing.T) {
	same := [][2]string{
		{"http://example.com/a", "HTTP://Example.COM:80/b"},
		{"https://example.com", "https://example.com:443/x?y"},
		{"http://[::1]:8080/", "http://[::1]:8080/z"},
	}
	for _, p := range same {
		if origin(mustURL(t, p[0])) != origin(mustURL(t, p[1])) {
			t.Errorf("%s and %s: want the same origin", p[0], p[1])
		}
	}
	differ := [][2]string{
		{"http://example.com", "https://example.com"},
		{"http://example.com", "http://example.com:8080"},
		{"http://example.com", "http://api.example.com"},
		{"http://127.0.0.1:80", "http://localhost:80"},
	}
	for _, p := range differ {
		if origin(mustURL(t, p[0])) == origin(mustURL(t, p[1])) {
			t.Errorf("%s and %s: want different origins", p[0], p[1])
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
