package latchkey_test

import (
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/httpapi/ratelimit"
)

// An application that sets no Throttle gets the default limits: the 11th
// failed sign-in for one account within 15 minutes is refused with 429
// and Retry-After before its password is checked. ratelimit.Off{} switches
// the limits off.
func TestDefaultThrottle(t *testing.T) {
	for _, tc := range []struct {
		name     string
		throttle func(*latchkey.Options)
		last     int
	}{
		{"default", nil, 429},
		{"off", func(o *latchkey.Options) { o.Throttle = ratelimit.Off{} }, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(t, nil, tc.throttle)
			signIn := func() (int, string) {
				resp, err := a.Client().Post(a.URL+"/auth/sign-in", "application/json",
					strings.NewReader(`{"email":"ann@example.com","password":"not her password"}`))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode, resp.Header.Get("Retry-After")
			}
			for i := range ratelimit.DefaultLimits().SigninFailuresPerAccount.Count {
				if code, _ := signIn(); code != 401 {
					t.Fatalf("failed sign-in %d: %d", i+1, code)
				}
			}
			code, retry := signIn()
			if code != tc.last || (code == 429 && retry == "") {
				t.Fatalf("one failed sign-in over the default limit: %d (Retry-After %q); want %d", code, retry, tc.last)
			}
		})
	}
}
