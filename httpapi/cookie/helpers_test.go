package cookie_test

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/server/servertest"
)

const (
	ann   = "ann@example.com"
	pw    = "password123"
	route = "/api/refresh/refreshtoken"
)

// setCookies returns the cookies a response sets.
func setCookies(r *servertest.Response) []*http.Cookie {
	return (&http.Response{Header: r.Header}).Cookies()
}

// refreshCookie returns the one refreshToken cookie r sets, failing the
// test otherwise.
func refreshCookie(t *testing.T, r *servertest.Response) *http.Cookie {
	t.Helper()
	cks := setCookies(r)
	if len(cks) != 1 || cks[0].Name != "refreshToken" {
		t.Fatalf("want one refreshToken cookie, got %v", r.Header["Set-Cookie"])
	}
	return cks[0]
}

// signIn signs ann up and in through the canonical dialect and returns the
// refresh cookie it set.
func signIn(t *testing.T, s *servertest.Server) *http.Cookie {
	t.Helper()
	s.SignUp(t, ann, pw)
	r := s.Do(t, "POST", "/auth/sign-in", map[string]string{"email": ann, "password": pw})
	if r.Status != http.StatusOK {
		t.Fatalf("sign-in: %d %s", r.Status, r.Body)
	}
	return refreshCookie(t, r)
}

// refresh calls the cookie route with the cookie value and extra headers.
func refresh(t *testing.T, s *servertest.Server, value string, headers ...string) *servertest.Response {
	t.Helper()
	if value != "" {
		headers = append(headers, "Cookie: refreshToken="+value)
	}
	return s.Do(t, "GET", route, nil, headers...)
}

// deleteUser removes the user row behind the server's back (Latchkey has no
// user deletion; an application sharing the database might).
func deleteUser(t *testing.T, s *servertest.Server, email string) {
	t.Helper()
	path := strings.TrimPrefix(s.App.Config.DatabaseURL, "sqlite://")
	db, err := sql.Open("sqlite3", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.ExecContext(context.Background(), "DELETE FROM users WHERE email = ?", email)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("deleted %d users", n)
	}
}
