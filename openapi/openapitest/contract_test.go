package openapitest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/openapi/openapitest"
)

const (
	jwt      = "aaa.bbb.ccc"
	tokens   = `{"accessToken":"` + jwt + `","refreshToken":"` + jwt + `","tokenType":"Bearer","expiresIn":900,"refreshExpiresIn":86400}`
	jsonType = "application/json"
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// The checker must catch each kind of drift: these exchanges are what a
// server that no longer matches its document would produce, and each must
// be reported; the conforming ones must not.
func TestCheck(t *testing.T) {
	c, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	noStore := []string{"Content-Type", jsonType, "Cache-Control", "no-store"}
	cases := []struct {
		name               string
		method, path, body string
		reqHeader          []string
		status             int
		respHeader         []string
		respBody           string
		off                string // a dialect switched off
		want               string // a substring of the violation; "" for none
		outcome            openapitest.Outcome
	}{
		{name: "conforming refresh", method: "POST", path: "/token", body: `{"refreshToken":"x"}`, reqHeader: []string{"Content-Type", jsonType},
			status: 200, respHeader: noStore, respBody: tokens},
		{name: "a field the document does not know", method: "POST", path: "/token", body: `{"refreshToken":"x"}`, reqHeader: []string{"Content-Type", jsonType},
			status: 200, respHeader: noStore, respBody: strings.Replace(tokens, `{`, `{"extra":1,`, 1), want: "does not match"},
		{name: "a required field missing", method: "POST", path: "/token", body: `{"refreshToken":"x"}`, reqHeader: []string{"Content-Type", jsonType},
			status: 200, respHeader: noStore, respBody: `{"accessToken":"` + jwt + `"}`, want: "does not match"},
		{name: "a token response that may be cached", method: "POST", path: "/token", body: `{"refreshToken":"x"}`, reqHeader: []string{"Content-Type", jsonType},
			status: 200, respHeader: []string{"Content-Type", jsonType}, respBody: tokens, want: "Cache-Control"},
		{name: "an undocumented status", method: "POST", path: "/token", body: `{"refreshToken":"x"}`, reqHeader: []string{"Content-Type", jsonType},
			status: 401, respHeader: []string{"Content-Type", jsonType}, respBody: `{"error":"invalid_token","message":"m"}`, want: "status is not supported"},
		{name: "429 without Retry-After", method: "POST", path: "/token", body: `{"refreshToken":"x"}`, reqHeader: []string{"Content-Type", jsonType},
			status: 429, respHeader: noStore, respBody: `{"error":"rate_limited","message":"m"}`, want: "Retry-After"},
		{name: "429 with Retry-After", method: "POST", path: "/token", body: `{"refreshToken":"x"}`, reqHeader: []string{"Content-Type", jsonType},
			status: 429, respHeader: append(noStore, "Retry-After", "3"), respBody: `{"error":"rate_limited","message":"m"}`},
		{name: "an error code nobody documented", method: "POST", path: "/token", body: `{"refreshToken":"x"}`, reqHeader: []string{"Content-Type", jsonType},
			status: 400, respHeader: []string{"Content-Type", jsonType}, respBody: `{"error":"token_sad","message":"m"}`, want: "does not match"},
		{name: "bad input refused", method: "POST", path: "/token", body: `{"refreshToken":`, reqHeader: []string{"Content-Type", jsonType},
			status: 400, respHeader: []string{"Content-Type", jsonType}, respBody: `{"error":"invalid_request","message":"m"}`},
		{name: "bad input accepted", method: "POST", path: "/token", body: `{"refreshToken":"x","bogus":1}`, reqHeader: []string{"Content-Type", jsonType},
			status: 200, respHeader: noStore, respBody: tokens, want: "must be a 4xx"},
		{name: "no bearer token, yet 200", method: "GET", path: "/auth/sessions",
			status: 200, respHeader: noStore, respBody: `{"sessions":[]}`, want: "must be a 4xx"},
		{name: "no bearer token, 401", method: "GET", path: "/auth/sessions",
			status: 401, respHeader: []string{"Content-Type", jsonType, "Cache-Control", "no-store", "WWW-Authenticate", `Bearer realm="x"`},
			respBody: `{"error":"invalid_token","message":"m"}`},
		{name: "a 401 of a bearer route may not be cached", method: "GET", path: "/auth/sessions",
			status: 401, respHeader: []string{"Content-Type", jsonType}, respBody: `{"error":"invalid_token","message":"m"}`, want: "Cache-Control"},
		{name: "a body where the document has none", method: "DELETE", path: "/auth/sessions/abc", reqHeader: []string{"Authorization", "Bearer " + jwt},
			status: 204, respBody: `{}`, want: "has a body"},
		{name: "the catch-all 404", method: "GET", path: "/no/such/route",
			status: 404, respHeader: []string{"Content-Type", jsonType}, respBody: `{"error":"not_found","message":"no such route"}`, outcome: openapitest.Unrouted},
		{name: "an undocumented route", method: "GET", path: "/admin/users",
			status: 200, respHeader: []string{"Content-Type", jsonType}, respBody: `[]`, want: "undocumented route", outcome: openapitest.Unrouted},
		{name: "an undocumented method", method: "PUT", path: "/token",
			status: 200, respHeader: []string{"Content-Type", jsonType}, respBody: `{}`, want: "undocumented route", outcome: openapitest.Unrouted},
		{name: "a dialect switched off", method: "POST", path: "/oauth/token", body: "grant_type=password", reqHeader: []string{"Content-Type", "application/x-www-form-urlencoded"},
			off: "oauth2", status: 404, respHeader: []string{"Content-Type", jsonType}, respBody: `{"error":"not_found","message":"no such route"}`},
		{name: "a dialect switched off that still answers", method: "POST", path: "/oauth/token", body: "grant_type=password", reqHeader: []string{"Content-Type", "application/x-www-form-urlencoded"},
			off: "oauth2", status: 400, respHeader: noStore, respBody: `{"error":"invalid_request"}`, want: "is off"},
		{name: "a form-encoded grant", method: "POST", path: "/oauth/token", body: "grant_type=refresh_token&refresh_token=x&client_id=cli",
			reqHeader: []string{"Content-Type", "application/x-www-form-urlencoded;charset=UTF-8"},
			status:    200, respHeader: noStore, respBody: `{"access_token":"` + jwt + `","token_type":"Bearer","expires_in":900,"refresh_token":"` + jwt + `"}`},
		{name: "an OAuth token response without refresh_token", method: "POST", path: "/oauth/token", body: "grant_type=refresh_token&refresh_token=x",
			reqHeader: []string{"Content-Type", "application/x-www-form-urlencoded"},
			status:    200, respHeader: noStore, respBody: `{"access_token":"` + jwt + `","token_type":"Bearer","expires_in":900}`, want: "does not match"},
		{name: "a private key in the JWKS", method: "GET", path: "/.well-known/jwks.json",
			status: 200, respHeader: []string{"Content-Type", jsonType, "Cache-Control", "public, max-age=60"},
			respBody: `{"keys":[{"kty":"EC","kid":"k","crv":"P-256","x":"x","y":"y","d":"secret"}]}`, want: "does not match"},
		{name: "an inactive token that says more", method: "POST", path: "/oauth/introspect", body: "token=x",
			reqHeader: []string{"Content-Type", "application/x-www-form-urlencoded"},
			status:    200, respHeader: noStore, respBody: `{"active":false,"sub":"u"}`, want: "does not match"},
		{name: "a CORS preflight", method: "OPTIONS", path: "/token", reqHeader: []string{"Origin", "https://app.example", "Access-Control-Request-Method", "POST"},
			status: 204, outcome: openapitest.Skipped},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://127.0.0.1:8080"+tc.path, strings.NewReader(tc.body))
			r.Header = hdr(tc.reqHeader...)
			out, vs := c.Check(openapitest.Exchange{Request: r, RequestBody: []byte(tc.body), Status: tc.status,
				Header: hdr(tc.respHeader...), Body: []byte(tc.respBody)}, func(d string) bool { return d != tc.off })
			if out != tc.outcome {
				t.Errorf("outcome %d, want %d", out, tc.outcome)
			}
			switch {
			case tc.want == "" && len(vs) > 0:
				t.Errorf("unexpected violations: %q", vs)
			case tc.want != "" && (len(vs) == 0 || !strings.Contains(strings.Join(vs, "\n"), tc.want)):
				t.Errorf("want a violation containing %q, got %q", tc.want, vs)
			}
		})
	}
}

// The middleware hands the handler the very body the client sent, records
// the response, and reports through the Recorder.
func TestMiddleware(t *testing.T) {
	c, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	rec := &openapitest.Recorder{}
	var got string
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := new(strings.Builder)
		_, _ = io.Copy(b, r.Body)
		got = b.String()
		w.Header().Set("Content-Type", jsonType)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"status":"sad"}`))
	}), nil, rec)
	ts := httptest.NewServer(h)
	defer ts.Close()
	resp, err := http.Post(ts.URL+"/healthz", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != "hello" {
		t.Fatalf("the handler read %q", got)
	}
	vs := rec.Violations()
	if checked, unrouted, _ := rec.Counts(); checked+unrouted != 1 || len(vs) != 1 || !strings.Contains(vs[0], "POST /healthz → 200") {
		t.Fatalf("violations %q", vs)
	}
}
