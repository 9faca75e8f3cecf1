package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/httpapi"
)

// mustTrusted reads TRUSTED_PROXIES entries as the server does.
func mustTrusted(t *testing.T, s ...string) []netip.Prefix {
	t.Helper()
	var p config.Prefixes
	if err := p.UnmarshalText([]byte(strings.Join(s, ","))); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClientIP(t *testing.T) {
	proxies := httpapi.ClientIP{Trusted: mustTrusted(t, "10.0.0.0/8", "192.0.2.1", "fd00::/8")}
	none := httpapi.ClientIP{}
	tests := []struct {
		name   string
		ip     httpapi.ClientIP
		remote string
		xff    []string
		want   string
	}{
		{"no proxies: connection", none, "203.0.113.9:4000", nil, "203.0.113.9"},
		{"no proxies: spoofed header ignored", none, "203.0.113.9:4000", []string{"1.2.3.4"}, "203.0.113.9"},
		{"untrusted peer: spoofed header ignored", proxies, "203.0.113.9:4000", []string{"1.2.3.4"}, "203.0.113.9"},
		{"trusted proxy: client from header", proxies, "10.0.0.5:4000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"spoof prepended by client: right-most untrusted wins", proxies, "10.0.0.5:4000", []string{"1.2.3.4, 198.51.100.7"}, "198.51.100.7"},
		{"spoof claiming a trusted address", proxies, "10.0.0.5:4000", []string{"10.9.9.9, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", proxies, "10.0.0.5:4000", []string{"198.51.100.7, 192.0.2.1, 10.1.1.1"}, "198.51.100.7"},
		{"several header lines form one list", proxies, "10.0.0.5:4000", []string{"1.2.3.4", "198.51.100.7, 10.1.1.1"}, "198.51.100.7"},
		{"garbage left of the client is never read", proxies, "10.0.0.5:4000", []string{"<script>, 198.51.100.7"}, "198.51.100.7"},
		{"malformed entry in the trusted part: connection", proxies, "10.0.0.5:4000", []string{"198.51.100.7, garbage"}, "10.0.0.5"},
		{"empty entry: connection", proxies, "10.0.0.5:4000", []string{"198.51.100.7, "}, "10.0.0.5"},
		{"trusted proxy without header: connection", proxies, "10.0.0.5:4000", nil, "10.0.0.5"},
		{"everything trusted: left-most", proxies, "10.0.0.5:4000", []string{"10.2.2.2, 10.1.1.1"}, "10.2.2.2"},
		{"entry with port", proxies, "10.0.0.5:4000", []string{"198.51.100.7:5555"}, "198.51.100.7"},
		{"IPv6 entry with port", proxies, "[fd00::1]:443", []string{"[2001:db8::7]:5555"}, "2001:db8::7"},
		{"IPv4-mapped connection is unmapped", proxies, "[::ffff:10.0.0.5]:4000", []string{"2001:db8::7"}, "2001:db8::7"},
		{"zone dropped", none, "[fe80::1%eth0]:80", nil, "fe80::1"},
		{"unparseable RemoteAddr", proxies, "@", []string{"198.51.100.7"}, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tt.ip.Of(r).String(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestClientIPSpoofingOverHTTP sends X-Forwarded-For through a real
// connection from 127.0.0.1.
func TestClientIPSpoofingOverHTTP(t *testing.T) {
	for _, tt := range []struct {
		name string
		ip   httpapi.ClientIP
		want string
	}{
		{"loopback not trusted: the header is ignored", httpapi.ClientIP{Trusted: mustTrusted(t, "10.0.0.0/8")}, "127.0.0.1"},
		{"loopback trusted as the proxy: right-most untrusted", httpapi.ClientIP{Trusted: mustTrusted(t, "127.0.0.1")}, "198.51.100.7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(tt.ip.Of(r).String()))
			}))
			res := do(t, srv, "GET", "/", "", nil, "X-Forwarded-For", "6.6.6.6, 198.51.100.7")
			if res.Body != tt.want {
				t.Fatalf("got %s, want %s", res.Body, tt.want)
			}
		})
	}
}
