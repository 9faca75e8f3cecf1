package canonical

import (
	"time"

	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/httpapi"
)

type userResponse struct {
	User httpapi.User `json:"user"`
}

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// TokenResponse is the body of every canonical token response: sign-in
// fills every field; POST /token leaves out the session and user fields;
// POST /token/refresh returns only the access token. Options.TokenResponse
// may replace it with the application's own shape.
type TokenResponse struct {
	AccessToken      string        `json:"accessToken"`
	RefreshToken     string        `json:"refreshToken,omitempty"`
	TokenType        string        `json:"tokenType"`
	ExpiresIn        int64         `json:"expiresIn"`
	RefreshExpiresIn int64         `json:"refreshExpiresIn,omitempty"`
	SessionExpiresAt *time.Time    `json:"sessionExpiresAt,omitempty"`
	ServerTime       *time.Time    `json:"serverTime,omitempty"`
	User             *httpapi.User `json:"user,omitempty"`
}

type refreshRequest struct {
	RefreshToken string `json:"refreshToken"`
}

type signOutRequest struct {
	Scope string `json:"scope"`
}

// Session is the public form of a session.
type Session struct {
	ID               string    `json:"id"`
	Current          bool      `json:"current"`
	CreatedAt        time.Time `json:"createdAt"`
	LastRefreshedAt  time.Time `json:"lastRefreshedAt"`
	RefreshExpiresAt time.Time `json:"refreshExpiresAt"`
	ExpiresAt        time.Time `json:"expiresAt"`
	ClientID         string    `json:"clientId,omitempty"`
	UserAgent        string    `json:"userAgent,omitempty"`
	IP               string    `json:"ip,omitempty"`
}

type sessionsResponse struct {
	Sessions []Session `json:"sessions"`
}

func sessionOf(s auth.SessionInfo) Session {
	return Session{ID: s.ID, Current: s.Current, CreatedAt: s.CreatedAt.UTC(), LastRefreshedAt: s.LastRefreshedAt.UTC(),
		RefreshExpiresAt: s.RefreshExpiresAt.UTC(), ExpiresAt: s.AbsoluteExpiresAt.UTC(), ClientID: s.ClientID,
		UserAgent: s.UserAgent, IP: s.IP}
}

// seconds returns the whole seconds from now until t (at least 0).
func seconds(t, now time.Time) int64 {
	if d := t.Sub(now); d > 0 {
		return int64(d / time.Second)
	}
	return 0
}
