package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey-dev/latchkey"
)

type note struct {
	ID   string `json:"id"`
	Body string `json:"body"`
}

// me is GET /api/me: who the token says the caller is, and the app claim.
func (a *app) me(w http.ResponseWriter, r *http.Request) {
	p, _ := latchkey.PrincipalFrom(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{"user": p.UserID, "session": p.SessionID, "plan": p.Claims.Extra["plan"]})
}

// listNotes is GET /api/notes: the caller's notes.
func (a *app) listNotes(w http.ResponseWriter, r *http.Request) {
	p, _ := latchkey.PrincipalFrom(r.Context())
	rows, err := a.db.QueryContext(r.Context(), `SELECT id, body FROM notes WHERE user_id = $1 ORDER BY created_at, id`, p.UserID)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal_error"})
		return
	}
	defer rows.Close()
	notes := []note{}
	for rows.Next() {
		var n note
		if err := rows.Scan(&n.ID, &n.Body); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal_error"})
			return
		}
		notes = append(notes, n)
	}
	writeJSON(w, http.StatusOK, map[string]any{"notes": notes})
}

// addNote is POST /api/notes {"body": "..."}; a free plan keeps 3 notes.
func (a *app) addNote(w http.ResponseWriter, r *http.Request) {
	p, _ := latchkey.PrincipalFrom(r.Context())
	var in struct {
		Body string `json:"body"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil || strings.TrimSpace(in.Body) == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "message": `the body must be {"body": "text"}`})
		return
	}
	if p.Claims.Extra["plan"] != "pro" {
		var n int
		if err := a.db.QueryRowContext(r.Context(), `SELECT count(*) FROM notes WHERE user_id = $1`, p.UserID).Scan(&n); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal_error"})
			return
		}
		if n >= 3 {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "plan_limit", "message": "the free plan keeps 3 notes"})
			return
		}
	}
	n := note{ID: uuid.NewString(), Body: in.Body}
	if _, err := a.db.ExecContext(r.Context(), `INSERT INTO notes (id, user_id, body, created_at) VALUES ($1, $2, $3, $4)`,
		n.ID, p.UserID, n.Body, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal_error"})
		return
	}
	writeJSON(w, http.StatusCreated, n)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
