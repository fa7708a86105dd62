package doorway

import (
	"errors"
	"fmt"
)

// Error codes. They decide the HTTP status and whether a message is safe to
// show: every code but EInternal carries a message written for the person who
// has to fix the input.
const (
	EInvalid      = "invalid"      // the input is malformed or not allowed
	ENotFound     = "not_found"    // the thing named does not exist
	EConflict     = "conflict"     // the thing exists already, or was used already
	EExpired      = "expired"      // the thing existed but its time is up
	EUnauthorized = "unauthorized" // who is asking is not known
	EForbidden    = "forbidden"    // who is asking may not do this
	EUnavailable  = "unavailable"  // the database is away for a moment; retry
	ELimited      = "limited"      // too many attempts: wait, then retry
	EInternal     = "internal"     // our fault; details go to the log only
)

// Error is an application error with a code and a message safe to show to
// the user who caused it. Anything that is not an *Error is an internal error
// whose text must never reach a client.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("doorway: %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err's *Error, EInternal for any other
// non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EInternal
	}
}

// ErrorMessage returns the safe message of err's *Error, or "Internal error."
// for any other error.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
