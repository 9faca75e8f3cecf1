package receiver

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
)

// Handler is the push endpoint (RFC 8935 §2) to serve at Options.PushURL:
// it accepts a POSTed SET from the transmitter (authenticated by the
// authorization header this receiver gave its stream), verifies it, applies
// it and answers 202 Accepted. A SET that fails its checks is 400 with
// {"err", "description"} (RFC 8935 §2.4); an unknown key is invalid_key,
// which the transmitter retries.
func (r *Receiver) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		fail := func(status int, code, msg string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"err": code, "description": msg})
		}
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			fail(http.StatusMethodNotAllowed, "invalid_request", "POST a SET")
			return
		}
		want := "Bearer " + r.secret
		if r.secret == "" || subtle.ConstantTimeCompare([]byte(req.Header.Get("Authorization")), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", "Bearer")
			fail(http.StatusUnauthorized, "authentication_failed", "the push is not authorized")
			return
		}
		if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/secevent+jwt" {
			fail(http.StatusBadRequest, "invalid_request", "Content-Type must be application/secevent+jwt")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxSETBytes))
		if err != nil {
			fail(http.StatusBadRequest, "invalid_request", "the SET is larger than 64 KiB or could not be read")
			return
		}
		r.mu.Lock()
		aud := r.stream.aud
		r.mu.Unlock()
		if aud == "" {
			// The stream is being (re)created: the transmitter retries.
			fail(http.StatusServiceUnavailable, "temporarily_unavailable", "not ready")
			return
		}
		v, err := r.verify(req.Context(), string(body), aud)
		if err == nil {
			var state string
			if state, err = r.apply(v); err == nil {
				r.verified(state) // pushes come one at a time, in order
			}
		}
		if err != nil {
			var se *setError
			if !errors.As(err, &se) {
				se = &setError{code: "invalid_request", msg: err.Error()}
			}
			r.log.Warn("latchkey receiver: a pushed SET was refused", "err", err)
			fail(http.StatusBadRequest, se.code, se.msg)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}
