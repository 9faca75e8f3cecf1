package client

import "time"

// Tokens are the tokens of one session, as the client holds them. They
// marshal to JSON, so an application can persist them (see OnTokens) and
// resume later (see WithTokens). The refresh token is a credential: store it
// as you would a password.
//
// The times are by the client's own clock: the server sends lifetimes in
// seconds (expiresIn), and the client adds them to the time it sent the
// request, so a client whose clock is wrong still refreshes in time.
type Tokens struct {
	AccessToken  string `json:"accessToken,omitempty"`
	RefreshToken string `json:"refreshToken,omitempty"`
	TokenType    string `json:"tokenType,omitempty"` // "Bearer", or "DPoP" for a session bound to the DPoP key (WithDPoP)
	// Expiry is when the access token expires.
	Expiry time.Time `json:"expiry,omitzero"`
	// RefreshExpiry is when the refresh token expires unless used; each
	// refresh starts it again (a sliding expiry). Zero when unknown.
	RefreshExpiry time.Time `json:"refreshExpiry,omitzero"`
	// SessionExpiry is the session's absolute cap: no refresh goes past it.
	// Zero when unknown.
	SessionExpiry time.Time `json:"sessionExpiry,omitzero"`
}

// User is a Latchkey user.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Status    string    `json:"status"` // "active" or "inactive"
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Session is one of the user's live sessions (one per sign-in). The times
// are the server's.
type Session struct {
	ID string `json:"id"`
	// Current is true for the session the client is calling from.
	Current          bool      `json:"current"`
	CreatedAt        time.Time `json:"createdAt"`
	LastRefreshedAt  time.Time `json:"lastRefreshedAt"`
	RefreshExpiresAt time.Time `json:"refreshExpiresAt"`
	ExpiresAt        time.Time `json:"expiresAt"`
	ClientID         string    `json:"clientId,omitempty"`
	UserAgent        string    `json:"userAgent,omitempty"`
	IP               string    `json:"ip,omitempty"`
}

// Sign-out scopes (SignOut).
const (
	ScopeLocal  = "local"  // this session only
	ScopeOthers = "others" // every other session of the user; this one stays
	ScopeGlobal = "global" // every session of the user
)
