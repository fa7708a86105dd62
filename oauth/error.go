package oauth

import (
	"encoding/json"
	"net/http"

	"github.com/doorwayhq/doorway/store"
)

// Error is an OAuth error response (RFC 6749 §5.2). Grants return it; one
// writer renders it, so every error has the same shape and headers.
type Error struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	status      int
	retryAfter  string
	cause       error // of a 5xx: what failed, logged and not shown
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func invalidRequest(desc string) *Error {
	return &Error{Code: "invalid_request", Description: desc, status: 400}
}
func invalidGrant(desc string) *Error {
	return &Error{Code: "invalid_grant", Description: desc, status: 400}
}
func invalidClient(desc string) *Error {
	return &Error{Code: "invalid_client", Description: desc, status: 401}
}
func invalidScope(desc string) *Error {
	return &Error{Code: "invalid_scope", Description: desc, status: 400}
}

// noStore marks a response that carries or concerns credentials
// (RFC 6749 §5.1).
func noStore(w http.ResponseWriter) {
	h := w.Header()
	h["Cache-Control"], h["Pragma"] = noStoreValue, noCacheValue
}

// Header values shared by every answer and never changed (see web's
// securityHeaderValues): Header.Set would make each anew.
var (
	noStoreValue = []string{"no-store"}
	noCacheValue = []string{"no-cache"}
	jsonType     = []string{"application/json"}
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header()["Content-Type"] = jsonType
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	noStore(w)
	if e.status == http.StatusUnauthorized {
		// RFC 6749 §5.2: a 401 names the scheme the client may use.
		w.Header().Set("WWW-Authenticate", `Basic realm="doorway", error="invalid_client"`)
	}
	if e.retryAfter != "" {
		w.Header().Set("Retry-After", e.retryAfter)
	}
	status := e.status
	if status == 0 {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, e)
}

// publicDescription is what a client is told of a 5xx.
func publicDescription(e *Error) string {
	if e.status == http.StatusServiceUnavailable {
		return "the database is unavailable for a moment; retry shortly"
	}
	return "internal error"
}

// internal logs err as what failed (unless it is r's own cancellation)
// and writes the error a client sees.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	if !store.Abandoned(r.Context(), err) {
		s.Logger.Error(what, "error", err)
	}
	e := serverError(err)
	e.Description = publicDescription(e)
	writeError(w, e)
}
