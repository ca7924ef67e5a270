// Package errs is the framework's one error vocabulary: a code (GraphQL
// extensions.code, named in Go as on the wire), a message safe to show
// clients, internal detail for logs, and whether retrying can help. A
// permanent failure of an event handler goes to the dead-letter queue at
// once, with its reason.
package errs

import (
	"errors"
	"fmt"
)

// Code classifies an error for clients and for retry decisions. A Code's
// Go name is its wire name (extensions.code) in CamelCase: errs.BadUserInput
// is BAD_USER_INPUT, so code and wire read the same.
type Code string

// Codes a resolver or an event handler returns, named after the GraphQL
// (Apollo) and gRPC conventions mobile clients know.
const (
	// BadUserInput: the input is invalid, whatever the state.
	BadUserInput Code = "BAD_USER_INPUT"
	// NotFound: what the input names does not exist.
	NotFound Code = "NOT_FOUND"
	// FailedPrecondition: the state does not allow it now.
	FailedPrecondition Code = "FAILED_PRECONDITION"
	// AlreadyExists: it was created before.
	AlreadyExists Code = "ALREADY_EXISTS"
	// Unauthenticated: no valid identity came with the request.
	Unauthenticated Code = "UNAUTHENTICATED"
	// Forbidden: the caller may not do this.
	Forbidden Code = "FORBIDDEN"
	// ResourceExhausted: a quota or rate is used up; retry later.
	ResourceExhausted Code = "RESOURCE_EXHAUSTED"
	// Unavailable: a dependency is down; retrying can help.
	Unavailable Code = "UNAVAILABLE"
	// InternalServerError: a bug or an unexpected failure. Its detail goes
	// to the logs only; the client gets a safe message and a request id.
	InternalServerError Code = "INTERNAL_SERVER_ERROR"
)

// Codes the GraphQL transports (lib/graphqlhttp over HTTP, lib/realtime
// over WebSocket) answer with when they refuse a request before or
// instead of running it. docs/graphql.md says when each is used.
const (
	// BadRequest: the HTTP request is not a GraphQL request (malformed
	// JSON, no query, variables that are not an object).
	BadRequest Code = "BAD_REQUEST"
	// GraphQLParseFailed: the query is not valid GraphQL syntax.
	GraphQLParseFailed Code = "GRAPHQL_PARSE_FAILED"
	// GraphQLValidationFailed: the query does not validate against the
	// schema, or names an operation the document does not have.
	GraphQLValidationFailed Code = "GRAPHQL_VALIDATION_FAILED"
	// QueryTooLarge: the query text is longer than the limit.
	QueryTooLarge Code = "QUERY_TOO_LARGE"
	// QueryTooDeep: fields nest deeper than the limit.
	QueryTooDeep Code = "QUERY_TOO_DEEP"
	// QueryTooComplex: the query would do more work than allowed (its
	// estimated cost, its selections once fragments are spread, or the
	// overlapping fields validation has to compare).
	QueryTooComplex Code = "QUERY_TOO_COMPLEX"
	// IntrospectionDisabled: __schema or __type asked of a schema that
	// does not allow introspection.
	IntrospectionDisabled Code = "INTROSPECTION_DISABLED"
	// OperationNotSupported: an operation this transport does not run (a
	// subscription over HTTP).
	OperationNotSupported Code = "OPERATION_NOT_SUPPORTED"
	// MethodNotAllowed: an HTTP method the endpoint does not take.
	MethodNotAllowed Code = "METHOD_NOT_ALLOWED"
	// PayloadTooLarge: a body or message over the size limit.
	PayloadTooLarge Code = "PAYLOAD_TOO_LARGE"
	// UnsupportedMediaType: a POST body that is not application/json.
	UnsupportedMediaType Code = "UNSUPPORTED_MEDIA_TYPE"
	// NotAcceptable: the Accept header allows no JSON response.
	NotAcceptable Code = "NOT_ACCEPTABLE"
	// Timeout: the operation ran out of time.
	Timeout Code = "TIMEOUT"
	// TooManySubscriptions: a WebSocket connection holds the most
	// subscriptions it may.
	TooManySubscriptions Code = "TOO_MANY_SUBSCRIPTIONS"
	// ResyncRequired: a subscription's after cursor cannot be resumed
	// from (malformed, of another topic, or older than the event log
	// keeps): the client re-queries the current state and subscribes
	// again without it.
	ResyncRequired Code = "RESYNC_REQUIRED"
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
	case Unavailable, ResourceExhausted, InternalServerError, Timeout:
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

// CodeOf is the code of err, InternalServerError for errors without one.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return InternalServerError
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
