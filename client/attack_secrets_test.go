package client_test

import (
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/client"
)

// A base URL may carry credentials for a proxy in front of the server
// (https://user:password@…). Errors are logged, so New's errors about a
// bad base URL name it without the password.
func TestBaseURLErrorsHideThePassword(t *testing.T) {
	for _, base := range []string{
		"https://deploy:s3cret-pw@auth.example.com:bad/",       // does not parse
		"ftp://deploy:s3cret-pw@auth.example.com/",             // not http(s)
		"https://deploy:s3cret-pw@auth.example.com/?tenant=a",  // a query
		"https://deploy:s3cret-pw@auth.example.com/#fragment",  // a fragment
		"https://deploy:s3cret-pw@auth.example.com/\x7f/token", // a control character
	} {
		_, err := client.New(base)
		if err == nil {
			t.Errorf("New(%q) succeeded; want an error", base)
			continue
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("New's error shows the password: %v", err)
		}
		if !strings.Contains(err.Error(), "auth.example.com") {
			t.Errorf("New's error does not say which URL: %v", err)
		}
	}
}
