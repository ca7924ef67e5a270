// Package errs is the framework's one error vocabulary: a code, a message
// safe to show clients (GraphQL extensions.code), internal detail for logs,
// and whether retrying can help. A permanent failure of an event handler
// goes to the dead-letter queue at once, with its reason.
package errs

import (
	"errors"
	"fmt"
)

// Code classifies an error for clients and for retry decisions.
type Code string

// Codes, named after the GraphQL and gRPC conventions mobile clients know.
const (
	InvalidArgument    Code = "BAD_USER_INPUT"
	NotFound           Code = "NOT_FOUND"
	FailedPrecondition Code = "FAILED_PRECONDITION"
	AlreadyExists      Code = "ALREADY_EXISTS"
	Unauthenticated    Code = "UNAUTHENTICATED"
	PermissionDenied   Code = "FORBIDDEN"
	ResourceExhausted  Code = "RESOURCE_EXHAUSTED"
	Unavailable        Code = "UNAVAILABLE"
	Internal           Code = "INTERNAL_SERVER_ERROR"
)

// Error carries a code, a client-safe message and the internal cause.
type Error struct {
	Code Code
	// Message is safe to show a client.
	Message string
	// Err is the internal cause, for logs only.
	Err error
	// Permanent says retrying cannot help.
	Permanent bool
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// New makes an error with a code and a client-safe message. Client errors
// (bad input, not found, failed precondition, forbidden...) are permanent.
func New(code Code, message string) *Error {
	return &Error{Code: code, Message: message, Permanent: permanentByDefault(code)}
}

// Newf is New with formatting.
func Newf(code Code, format string, args ...any) *Error {
	return New(code, fmt.Sprintf(format, args...))
}

// Wrap attaches a code and a client-safe message to an internal cause.
func Wrap(code Code, message string, err error) *Error {
	e := New(code, message)
	e.Err = err
	return e
}

func permanentByDefault(c Code) bool {
	switch c {
	case Unavailable, ResourceExhausted, Internal:
		return false
	}
	return true
}

// Permanent marks err as one that no retry can fix: an event handler's
// message goes to the dead-letter queue at once, with err as the reason.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e.Permanent {
		return err
	}
	return &Error{Code: FailedPrecondition, Message: "permanent failure", Err: err, Permanent: true}
}

// IsPermanent reports whether err, or an error it wraps, is permanent.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// CodeOf is the code of err, Internal for errors without one.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// MessageOf is the client-safe message of err: its own for an *Error,
// a generic one otherwise, so internal detail never reaches a client.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "internal error"
}
