package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"time"
)

//go:embed index.html app.js password.js app.css
var files embed.FS

// ContentSecurityPolicy is sent with every file of the page. Everything
// comes from the page's own origin: no inline script or style (the page
// uses none, so an injected one cannot run), no framing (clickjacking), no
// <base> rewriting, forms post only to this origin.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// asset is one embedded file with what its response needs.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assets maps a request path to its file.
var assets = func() map[string]asset {
	m := map[string]asset{}
	for path, f := range map[string]struct{ name, ctype string }{
		"/":            {"index.html", "text/html; charset=utf-8"},
		"/app.js":      {"app.js", "text/javascript; charset=utf-8"},
		"/password.js": {"password.js", "text/javascript; charset=utf-8"},
		"/app.css":     {"app.css", "text/css; charset=utf-8"},
	} {
		b, err := files.ReadFile(f.name)
		if err != nil {
			panic("web: " + err.Error()) // the embed directive lists it
		}
		sum := sha256.Sum256(b)
		m[path] = asset{body: b, contentType: f.ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	return m
}()

// Handler serves the page's files by request path (/, /app.js,
// /password.js, /app.css)
// and answers 404 to any other path, for a caller that mounts it more
// widely than those three routes. Each response carries the
// Content-Security-Policy and the headers that keep the page out of frames
// and other sites' referrers, and Cache-Control: no-cache with a strong
// ETag: a browser revalidates on every load (a 304 costs a few bytes), so a
// new binary's page is never mixed with an old cached script.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}
