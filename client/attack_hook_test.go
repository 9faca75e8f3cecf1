package client_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/client"
)

// The call whose access token came due starts the refresh; the server
// answers, and OnTokens is slow to persist the new tokens (a remote store,
// a disk that stalls). The access token is still valid, so the call goes
// on with it, as every other call does meanwhile: it does not wait for the
// hook, which may take as long as it likes.
func TestSlowOnTokensDoesNotHoldTheCallThatRefreshes(t *testing.T) {
	fe := newFaultEnv(t)
	hook := newBlockingHook(2) // the sign-in's, then the refresh's
	c := fe.signedIn(t, "slowhook@example.com", client.OnTokens(hook.save))
	defer close(hook.release)
	fe.world.Advance(accessLifetime - 10*time.Second) // due, valid for 10s more
	before := c.Tokens()

	done := make(chan error, 1)
	go func() {
		status, err := fe.me(c)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("status %d", status)
		}
		done <- err
	}()
	await(t, hook.entered, "the hook")
	if err := await(t, done, "GET /auth/me while the hook persists the tokens its refresh got"); err != nil {
		t.Fatal(err)
	}
	if c.Tokens() != before {
		t.Error("the new tokens are in use before OnTokens returned")
	}
	if n := len(fe.front.refreshes()); n != 1 {
		t.Errorf("%d refresh requests; want 1", n)
	}
}
