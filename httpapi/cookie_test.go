package httpapi_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/httpapi"
)

// Max-Age must be measured from the clock the expiry came from: with an
// injected clock far from the wall clock, time.Until gave Max-Age=1 and the
// cookie died in a browser (or a cookie jar) one second later.
func TestRefreshCookieMaxAgeUsesItsClock(t *testing.T) {
	now := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &httpapi.RefreshCookie{Name: "refreshToken", Path: "/api/refresh", Now: func() time.Time { return now }}
	w := httptest.NewRecorder()
	c.Set(w, httptest.NewRequest("POST", "/auth/sign-in", nil), "tok", now.Add(24*time.Hour))
	cks := w.Result().Cookies()
	if len(cks) != 1 || cks[0].MaxAge != 86400 || !cks[0].Expires.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("cookie = %+v, want Max-Age 86400 and Expires one day after the injected now", cks)
	}
}
