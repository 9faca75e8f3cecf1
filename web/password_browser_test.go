package web_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey-dev/latchkey/e2e/e2etest"
	"github.com/latchkey-dev/latchkey/internal/mailtest"
)

// TestPasswordFormsInBrowser drives the account page's password forms in
// headless Chromium against the real binary and a real SMTP server:
// "Forgot your password?" sends a reset mail; its link opens the page's
// new-password form, which sets the password and signs the account out;
// the page signs in with it; "Change password" changes it again.
func TestPasswordFormsInBrowser(t *testing.T) {
	e2etest.RequireChromium(t, "the browser test")
	mp := mailtest.Start(t, mailtest.Options{})
	srv := e2etest.StartServer(t, map[string]string{
		"SMTP_URL": "smtp://" + mp.SMTPAddr, "MAIL_FROM": "no-reply@example.com", "MAIL_POLL_INTERVAL": "200ms",
		"RATE_LIMITS": "off",
	})
	const email = "forms@example.com"
	api := &apiClient{t: t, base: srv.URL}
	if status, body := api.do("POST", "/auth/sign-up", map[string]string{"email": email, "password": "first password 1"}, ""); status != http.StatusCreated {
		t.Fatalf("sign-up: %d %s", status, body)
	}

	tab := startBrowser(t)
	tab.open(t, srv.URL)
	tab.waitFor(t, "the sign-in form", stepTimeout, func(v pageView) bool { return v.State == "signed-out" })
	tab.click(t, "#forgot-link")
	tab.step(t, "ask for a reset link",
		chromedp.SendKeys(chromedp.ID("forgot-email"), email),
		chromedp.Click(chromedp.ID("forgot-button")),
	)
	tab.waitFor(t, "the request acknowledged", stepTimeout, func(v pageView) bool { return strings.Contains(v.Message, "on its way") })

	ms := mp.WaitMessages(t, 1, 20*time.Second)
	link := regexp.MustCompile(`https?://\S+#reset=[A-Za-z0-9_-]{43}`).FindString(mp.Message(t, ms[0].ID).Text)
	if !strings.HasPrefix(link, srv.URL+"/#reset=") {
		t.Fatalf("the mail's link %q is not the account page's (%s)", link, srv.URL)
	}
	tab.open(t, link)
	tab.step(t, "choose a new password",
		chromedp.WaitVisible(chromedp.ID("reset-password")),
		chromedp.SendKeys(chromedp.ID("reset-password"), "second password 2"),
		chromedp.Click(chromedp.ID("reset-button")),
	)
	tab.waitFor(t, "the reset done", stepTimeout, func(v pageView) bool {
		return v.State == "signed-out" && strings.Contains(v.Message, "Sign in with the new password")
	})
	if status, _ := api.do("POST", "/auth/sign-in", map[string]string{"email": email, "password": "first password 1"}, ""); status != http.StatusUnauthorized {
		t.Fatalf("the old password after the reset: %d", status)
	}

	tab.signIn(t, email, "second password 2")
	tab.waitFor(t, "signed in with the new password", stepTimeout, func(v pageView) bool { return v.State == "signed-in" && v.Email == email })
	tab.step(t, "change the password",
		chromedp.SendKeys(chromedp.ID("current-password"), "second password 2"),
		chromedp.SendKeys(chromedp.ID("new-password"), "third password 3"),
		chromedp.Click(chromedp.ID("change-button")),
	)
	tab.waitFor(t, "the change done", stepTimeout, func(v pageView) bool {
		return v.State == "signed-in" && strings.Contains(v.Message, "Password changed")
	})
	if status, body := api.do("POST", "/auth/sign-in", map[string]string{"email": email, "password": "third password 3"}, ""); status != http.StatusOK {
		t.Fatalf("sign-in with the changed password: %d %s", status, body)
	}
}
