package feathers

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/latchkey-dev/latchkey/httpapi"
)

// createRequest is every body POST /authentication accepts. Fields the
// chosen strategy or action does not use are ignored, as are fields of the
// client's own.
type createRequest struct {
	Strategy    string `json:"strategy"`
	Action      string `json:"action"`
	Email       string `json:"email"`
	Password    string `json:"password"`
	AccessToken string `json:"accessToken"`
	// RefreshToken is the spelling of the common FeathersJS refresh-token
	// recipe; RefreshTokenCamel is the sign-in response's, accepted too.
	RefreshToken      string `json:"refresh_token"`
	RefreshTokenCamel string `json:"refreshToken"`
}

// result is a Feathers authentication result: what create and remove
// answer, and what the client keeps as its authentication state.
type result struct {
	AccessToken    string         `json:"accessToken"`
	RefreshToken   string         `json:"refreshToken,omitempty"`
	Authentication authentication `json:"authentication"`
	User           *httpapi.User  `json:"user,omitempty"`
}

// authentication is the result's "authentication" member. Feathers clients
// read the decoded token from payload (its exp, for instance).
type authentication struct {
	// Strategy is the strategy that authenticated: "local", "jwt", or for a
	// refresh whatever strategy the request named (the refresh recipe echoes
	// it).
	Strategy    string          `json:"strategy,omitempty"`
	AccessToken string          `json:"accessToken"`
	Payload     json.RawMessage `json:"payload"`
}

// payloadOf returns the claims of a JWT this server minted or has just
// verified, exactly as they are in the token (Feathers returns
// jsonwebtoken.decode(accessToken)). It verifies nothing.
func payloadOf(tok string) (json.RawMessage, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("feathers: access token is not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, errors.New("feathers: access-token payload is not JSON")
	}
	return b, nil
}
