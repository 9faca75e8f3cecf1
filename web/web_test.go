package web_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/server/servertest"
	"github.com/latchkey-dev/latchkey/web"
)

// The page and its three files are served by the real handler (so checked
// against openapi.json by servertest) with their content types and the
// security headers, revalidate cheaply, and the page is only at exactly /.
func TestServed(t *testing.T) {
	s := servertest.Start(t, nil)
	for _, c := range []struct{ path, ctype, contains string }{
		{"/", "text/html; charset=utf-8", `<script src="/app.js" defer></script>`},
		{"/app.js", "text/javascript; charset=utf-8", "navigator.locks"},
		{"/password.js", "text/javascript; charset=utf-8", "/auth/password"},
		{"/app.css", "text/css; charset=utf-8", "[hidden]"},
	} {
		r := s.Do(t, "GET", c.path, nil)
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != c.ctype || !strings.Contains(string(r.Body), c.contains) {
			t.Fatalf("GET %s: %d %q, body contains %q: %v", c.path, r.Status, r.Header.Get("Content-Type"), c.contains, strings.Contains(string(r.Body), c.contains))
		}
		for name, want := range map[string]string{
			"Content-Security-Policy": web.ContentSecurityPolicy,
			"X-Frame-Options":         "DENY",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"Cache-Control":           "no-cache",
		} {
			if got := r.Header.Get(name); got != want {
				t.Errorf("GET %s: %s = %q, want %q", c.path, name, got, want)
			}
		}
		etag := r.Header.Get("ETag")
		if r := s.Do(t, "GET", c.path, nil, "If-None-Match: "+etag); etag == "" || r.Status != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match %s: %d", c.path, etag, r.Status)
		}
	}
	for _, path := range []string{"/index.html", "/app.js/", "/x/app.js", "/web.go"} {
		if r := s.Do(t, "GET", path, nil); r.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want the catch-all 404", path, r.Status)
		}
	}
	if r := s.Do(t, "POST", "/", nil); r.Status == http.StatusOK {
		t.Errorf("POST /: %d", r.Status)
	}
}

// The page contains nothing the Content-Security-Policy would block (inline
// script, inline style, event-handler attributes, other origins), and the
// script keeps its promises: no storage of tokens, no HTML built from data.
func TestNothingInline(t *testing.T) {
	s := servertest.Start(t, nil)
	page := string(s.Do(t, "GET", "/", nil).Body)
	for _, re := range []string{`<script(?:\s[^>]*)?>\s*[^<\s]`, `<style`, `\sstyle=`, `\son[a-z]+=`, `(?:src|href)="(?:https?:)?//`, `javascript:`} {
		if regexp.MustCompile(re).MatchString(page) {
			t.Errorf("index.html matches %s: the CSP would block it, or it loads from elsewhere", re)
		}
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1) {
		if !strings.Contains(tag, ` src="/`) {
			t.Errorf("index.html: %s is not a script of this origin", tag)
		}
	}
	for _, path := range []string{"/app.js", "/password.js"} {
		script := string(s.Do(t, "GET", path, nil).Body)
		for _, banned := range []string{"localStorage", "sessionStorage", "document.cookie", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", ".style."} {
			if strings.Contains(script, banned) {
				t.Errorf("%s uses %s", path, banned)
			}
		}
	}
}
