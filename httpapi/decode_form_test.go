package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/httpapi"
)

func TestDecodeFormOverHTTP(t *testing.T) {
	srv := serve(t, httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		vals, err := httpapi.DecodeForm(r)
		if err != nil {
			return err
		}
		return httpapi.WriteJSON(w, http.StatusOK, vals)
	}, httpapi.WriteError))

	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		status      int
		want        string // the echoed url.Values as JSON, or the error message
	}{
		{"form", "/", form, "grant_type=refresh_token&refresh_token=abc.def", 200,
			`{"grant_type":["refresh_token"],"refresh_token":["abc.def"]}`},
		{"form with charset (oauth4webapi)", "/", form + ";charset=UTF-8", "grant_type=password&username=a%40b.c&password=p%26w", 200,
			`{"grant_type":["password"],"password":["p\u0026w"],"username":["a@b.c"]}`},
		{"empty form", "/", form, "", 200, `{}`},
		{"query parameters are ignored", "/?token=leak", form, "a=1", 200, `{"a":["1"]}`},
		{"json strings and numbers", "/", "application/json", `{"grant_type":"refresh_token","refresh_token":"abc","expires_in":3600,"x":1.5e3}`, 200,
			`{"expires_in":["3600"],"grant_type":["refresh_token"],"refresh_token":["abc"],"x":["1.5e3"]}`},
		{"json null is absent", "/", "application/json; charset=utf-8", `{"client_id":null,"token":"t"}`, 200, `{"token":["t"]}`},
		{"repeated form parameter", "/", form, "grant_type=password&grant_type=refresh_token", 400, `parameter "grant_type" is repeated`},
		{"repeated json key", "/", "application/json", `{"token":"a","token":"b"}`, 400, `parameter "token" is repeated`},
		{"repeated json key after null", "/", "application/json", `{"token":null,"token":"b"}`, 400, `parameter "token" is repeated`},
		{"json nested object", "/", "application/json", `{"token":{"a":1}}`, 400, `field "token" must be a string or a number`},
		{"json array", "/", "application/json", `{"token":["a"]}`, 400, `field "token" must be a string or a number`},
		{"json boolean", "/", "application/json", `{"token":true}`, 400, `field "token" must be a string or a number`},
		{"json not an object", "/", "application/json", `"token"`, 400, "request body must be a JSON object"},
		{"json empty", "/", "application/json", ``, 400, "request body is empty"},
		{"json syntax", "/", "application/json", `{"token" "a"}`, 400, "malformed JSON at byte 9"},
		{"json truncated", "/", "application/json", `{"token":"a"`, 400, "malformed JSON: unexpected end of input"},
		{"json trailing", "/", "application/json", `{"token":"a"} {}`, 400, "unexpected data after the JSON object at byte 15"},
		{"bad escape", "/", form, "token=%zz", 400, "malformed form body"},
		{"invalid utf-8", "/", form, "token=%ff", 400, `parameter "token" is not valid UTF-8`},
		{"invalid utf-8, json", "/", "application/json", "{\"token\":\"\xff\"}", 400, "request body is not valid UTF-8"},
		{"lone surrogate, json", "/", "application/json", `{"token":"\udfff"}`, 400, `request body has a \u escape of a lone UTF-16 surrogate, which is not a character`},
		{"wrong content type", "/", "text/plain", "token=a", 400, "Content-Type must be application/x-www-form-urlencoded or application/json"},
		{"multipart", "/", "multipart/form-data; boundary=x", "--x--", 400, "Content-Type must be application/x-www-form-urlencoded or application/json"},
		{"no content type", "/", "", "token=a", 400, "missing Content-Type; expected application/x-www-form-urlencoded or application/json"},
		{"65 KiB", "/", form, "token=" + strings.Repeat("a", 65<<10), 413, "request body is larger than 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, srv, "POST", tt.path, tt.contentType, strings.NewReader(tt.body))
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d; body %q", res.Status, tt.status, res.Body)
			}
			if tt.status == 200 {
				if got := strings.TrimSpace(res.Body); got != tt.want {
					t.Errorf("got %s, want %s", got, tt.want)
				}
				return
			}
			if _, msg := errorBody(t, res); msg != tt.want {
				t.Errorf("message %q, want %q", msg, tt.want)
			}
		})
	}

	// The standard library's own client, as golang.org/x/oauth2 uses it.
	resp, err := srv.Client().PostForm(srv.URL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"r"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PostForm: %d", resp.StatusCode)
	}
}
