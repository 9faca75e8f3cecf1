package canonical

import (
	"net/http"

	"github.com/latchkey-dev/latchkey/httpapi"
)

// The password lifecycle: change (an access token and the current
// password), reset by e-mail (recover, then reset with the link's token),
// and e-mail verification.

type changePasswordRequest struct {
	CurrentPassword string `json:"currentPassword"`
	NewPassword     string `json:"newPassword"`
	// SignOutOthers ends every other session of the user; true when
	// absent. false keeps them, as an explicit choice.
	SignOutOthers *bool `json:"signOutOthers"`
}

type emailRequest struct {
	Email string `json:"email"`
}

type resetRequest struct {
	Token       string `json:"token"`
	NewPassword string `json:"newPassword"`
}

type tokenRequest struct {
	Token string `json:"token"`
}

// changePassword is POST /auth/password: 204, the caller's session kept.
func (h *handler) changePassword(w http.ResponseWriter, r *http.Request) error {
	p, err := httpapi.Principal(r, h.Service)
	if err != nil {
		return bearerFailure{err}
	}
	var in changePasswordRequest
	if err := httpapi.DecodeJSON(r, &in, httpapi.DecodeOptions{Strict: true}); err != nil {
		return err
	}
	others := in.SignOutOthers == nil || *in.SignOutOthers
	if err := h.Service.ChangePassword(r.Context(), p, in.CurrentPassword, in.NewPassword, others); err != nil {
		return bearerFailure{err}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// recoverPassword is POST /auth/recover: 202 whether or not the address is a
// user's.
func (h *handler) recoverPassword(w http.ResponseWriter, r *http.Request) error {
	var in emailRequest
	if err := httpapi.DecodeJSON(r, &in, httpapi.DecodeOptions{Strict: true}); err != nil {
		return err
	}
	if in.Email == "" {
		return httpapi.InvalidRequest(`field "email" is required`, nil)
	}
	if err := h.Service.RequestPasswordReset(r.Context(), in.Email); err != nil {
		return err
	}
	httpapi.NoStore(w)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// reset is POST /auth/reset: 204, every session of the user revoked.
func (h *handler) reset(w http.ResponseWriter, r *http.Request) error {
	var in resetRequest
	if err := httpapi.DecodeJSON(r, &in, httpapi.DecodeOptions{Strict: true}); err != nil {
		return err
	}
	if in.Token == "" || in.NewPassword == "" {
		return httpapi.InvalidRequest(`fields "token" and "newPassword" are required`, nil)
	}
	if err := h.Service.ResetPassword(r.Context(), in.Token, in.NewPassword); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// verify is POST /auth/verify: 204.
func (h *handler) verify(w http.ResponseWriter, r *http.Request) error {
	var in tokenRequest
	if err := httpapi.DecodeJSON(r, &in, httpapi.DecodeOptions{Strict: true}); err != nil {
		return err
	}
	if in.Token == "" {
		return httpapi.InvalidRequest(`field "token" is required`, nil)
	}
	if err := h.Service.VerifyEmail(r.Context(), in.Token); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resendVerification is POST /auth/verify/resend: 202 whatever the address.
func (h *handler) resendVerification(w http.ResponseWriter, r *http.Request) error {
	var in emailRequest
	if err := httpapi.DecodeJSON(r, &in, httpapi.DecodeOptions{Strict: true}); err != nil {
		return err
	}
	if in.Email == "" {
		return httpapi.InvalidRequest(`field "email" is required`, nil)
	}
	if err := h.Service.ResendVerification(r.Context(), in.Email); err != nil {
		return err
	}
	httpapi.NoStore(w)
	w.WriteHeader(http.StatusAccepted)
	return nil
}
