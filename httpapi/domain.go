package httpapi

import (
	"net/http"
	"time"

	"github.com/latchkey-dev/latchkey/auth"
)

// What every dialect hands to the domain and takes from it: the client's
// description, the authenticated caller, and the public form of a user.
// They are here, not in one dialect, so that no dialect depends on another.

// Meta describes the requesting client of a token request (sign-in,
// refresh) for the domain, with its DPoP proof once checked (tokenProof).
func Meta(r *http.Request, ip ClientIP, clientID string) auth.Meta {
	m := auth.Meta{ClientID: clientID, UserAgent: r.UserAgent()}
	if a := ip.Of(r); a.IsValid() {
		m.IP = a.String()
	}
	tokenProof(r, &m)
	return m
}

// Principal authenticates the request's access token (AccessToken:
// Bearer, or DPoP with its proof; NoBearer when it has none).
func Principal(r *http.Request, svc *auth.Service) (auth.Principal, error) {
	_, p, err := AccessToken(r, svc)
	return p, err
}

// CurrentUser is GET /auth/me's work, shared by the dialects that serve it:
// the user of the request's bearer access token. The token's session must
// be live (RFC 7009 §2.2: a revoked token's answers stop at once; the
// sessions routes and introspection already said so), which costs one
// indexed read. A user that no longer exists is an invalid token (401), not
// a 404.
func CurrentUser(r *http.Request, svc *auth.Service) (User, error) {
	p, err := Principal(r, svc)
	if err != nil {
		return User{}, err
	}
	if err := svc.CheckSession(r.Context(), p); err != nil {
		if auth.ErrorCode(err) == auth.CodeRefreshExpired {
			// Not a refresh: the session has run out.
			return User{}, &auth.Error{Code: auth.CodeSessionExpired, Message: "the session has expired; sign in again", Err: err}
		}
		return User{}, err
	}
	u, err := svc.User(r.Context(), p.UserID)
	if err != nil {
		if auth.ErrorCode(err) == auth.CodeUserNotFound {
			return User{}, &auth.Error{Code: auth.CodeInvalidToken, Message: "the user no longer exists", Err: err}
		}
		return User{}, err
	}
	return UserOf(u), nil
}

// User is the public form of a user (never the password hash).
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// UserOf returns the public form of u.
func UserOf(u auth.User) User {
	return User{ID: u.ID, Email: u.Email, Status: string(u.Status), CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}
