package login_test

import (
	"net/http"
	"testing"

	"github.com/latchkey-dev/latchkey/server/servertest"
)

const (
	ann = "ann@example.com"
	pw  = "password123"

	// The headers aurelia-authentication 3.8.3 sends on login and refresh:
	// defaultHeadersForTokenRequests (src/baseConfig.js line 182) over
	// aurelia-api 3.2.1's defaults (src/rest.js lines 14-17).
	ctJSON   = "Content-Type: application/json"
	acceptJS = "Accept: application/json"
	ctForm   = "Content-Type: application/x-www-form-urlencoded"
)

// tokens is the login-URL token response.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	User         struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"user"`
}

// login signs ann up (canonical, if needed) and in through POST /auth/login
// with aurelia's login body.
func login(t *testing.T, s *servertest.Server) tokens {
	t.Helper()
	s.Do(t, "POST", "/auth/signup", `{"email":"`+ann+`","password":"`+pw+`"}`, ctJSON)
	r := s.Do(t, "POST", "/auth/login", `{"email":"`+ann+`","password":"`+pw+`"}`, ctJSON, acceptJS)
	if r.Status != http.StatusOK {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	var tk tokens
	r.JSON(t, &tk)
	return tk
}

// refreshBody is aurelia's updateToken() body without a clientId.
func refreshBody(rt string) string {
	return `{"grant_type":"refresh_token","refresh_token":"` + rt + `"}`
}

// setCookies returns the cookies a response sets.
func setCookies(r *servertest.Response) []*http.Cookie {
	return (&http.Response{Header: r.Header}).Cookies()
}
