package client

import (
	"context"
	"net/http"
)

// ChangePassword sets a new password for the signed-in user (POST
// /auth/password), who proves to know the current one. With signOutOthers
// every other session of the user ends (their refreshes fail with
// CodeSessionRevoked); this client's session stays, and so do its tokens.
// A wrong current password is an *Error with Code
// CodeInvalidCurrentPassword; failed attempts count against the account's
// sign-in failure limit (CodeRateLimited).
func (c *Client) ChangePassword(ctx context.Context, currentPassword, newPassword string, signOutOthers bool) error {
	in := struct {
		CurrentPassword string `json:"currentPassword"`
		NewPassword     string `json:"newPassword"`
		SignOutOthers   bool   `json:"signOutOthers"`
	}{currentPassword, newPassword, signOutOthers}
	return c.do(ctx, c.authed, http.MethodPost, "/auth/password", in, nil)
}

// RequestPasswordReset asks for a password-reset link to be e-mailed to
// email (POST /auth/recover). It succeeds whether or not the address is a
// user's: the server never says. A server without a mail server answers
// CodeNotImplemented.
func (c *Client) RequestPasswordReset(ctx context.Context, email string) error {
	return c.do(ctx, c.hc, http.MethodPost, "/auth/recover", struct {
		Email string `json:"email"`
	}{email}, nil)
}

// ResetPassword sets a new password with the token of a reset link (POST
// /auth/reset). Every session of the user ends, this client's included:
// sign in again with the new password. A token that is unknown, used,
// replaced by a newer one or voided by a password change is an *Error with
// Code CodeEmailTokenInvalid; an expired one CodeEmailTokenExpired.
func (c *Client) ResetPassword(ctx context.Context, token, newPassword string) error {
	return c.do(ctx, c.hc, http.MethodPost, "/auth/reset", struct {
		Token       string `json:"token"`
		NewPassword string `json:"newPassword"`
	}{token, newPassword}, nil)
}

// VerifyEmail verifies the address of a user with the token of a
// verification link (POST /auth/verify); errors as for ResetPassword.
func (c *Client) VerifyEmail(ctx context.Context, token string) error {
	return c.do(ctx, c.hc, http.MethodPost, "/auth/verify", struct {
		Token string `json:"token"`
	}{token}, nil)
}

// ResendVerification asks for a new verification link for email (POST
// /auth/verify/resend), voiding the previous one; it succeeds whatever the
// address, as RequestPasswordReset does.
func (c *Client) ResendVerification(ctx context.Context, email string) error {
	return c.do(ctx, c.hc, http.MethodPost, "/auth/verify/resend", struct {
		Email string `json:"email"`
	}{email}, nil)
}
