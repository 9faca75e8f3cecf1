package httpapi_test

import (
	"net/http/httptest"
	"testing"

	"github.com/latchkey-dev/latchkey/httpapi"
)

func TestBearerToken(t *testing.T) {
	tests := []struct {
		headers []string
		token   string
		ok      bool
	}{
		{[]string{"Bearer abc.def-ghi_jkl~+/=="}, "abc.def-ghi_jkl~+/==", true},
		{[]string{"bearer abc"}, "abc", true},
		{[]string{"BEARER abc"}, "abc", true},
		{[]string{"  Bearer   abc  "}, "abc", true},
		{nil, "", false},
		{[]string{""}, "", false},
		{[]string{"Bearer"}, "", false},
		{[]string{"Bearer "}, "", false},
		{[]string{"Bearer    "}, "", false},
		{[]string{"Basic YTpi"}, "", false},
		{[]string{"Bearerabc"}, "", false},
		{[]string{"Bearer abc def"}, "", false},
		{[]string{"Bearer abc,Bearer def"}, "", false},
		{[]string{"Bearer a=b"}, "", false},
		{[]string{"Bearer ="}, "", false},
		{[]string{"Bearer\tabc"}, "", false},
		{[]string{"Bearer abc\x00"}, "", false},
		{[]string{"Bearer abc", "Bearer def"}, "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		for _, h := range tt.headers {
			r.Header.Add("Authorization", h)
		}
		token, ok := httpapi.BearerToken(r)
		if token != tt.token || ok != tt.ok {
			t.Errorf("%q: got (%q, %v), want (%q, %v)", tt.headers, token, ok, tt.token, tt.ok)
		}
	}
}
