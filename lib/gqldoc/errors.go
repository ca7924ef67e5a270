package gqldoc

import (
	"fmt"
	"strings"
)

// ErrorKind says what an Error is about.
type ErrorKind uint8

const (
	// Syntax: the document is not GraphQL that graphql-go parses.
	Syntax ErrorKind = iota + 1
	// Invalid: the document parses but cannot run as asked (no such
	// operation, an unknown fragment, a fragment cycle, a literal that
	// cannot be decoded).
	Invalid
	// BadVariables: a variable's value does not coerce to its type.
	BadVariables
)

// Location is a line and column in a document, both from 1; columns count
// characters.
type Location struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Error is what Parse, Operation, Check and CoerceVariables report.
type Error struct {
	Kind    ErrorKind
	Message string
	// Locations point at the cause in the document; there may be none.
	Locations []Location
}

func (e *Error) Error() string {
	if len(e.Locations) == 0 {
		return e.Message
	}
	l := e.Locations[0]
	return fmt.Sprintf("%s (line %d, column %d)", e.Message, l.Line, l.Column)
}

func syntaxErr(text string, pos int, msg string) *Error {
	return &Error{Kind: Syntax, Message: "syntax error: " + msg, Locations: []Location{location(text, pos)}}
}

func (d *Document) invalid(pos int32, format string, args ...any) *Error {
	e := &Error{Kind: Invalid, Message: fmt.Sprintf(format, args...)}
	if pos >= 0 {
		e.Locations = []Location{location(d.text, int(pos))}
	}
	return e
}

// Errors is several errors of one request, as CoerceVariables reports
// every variable that does not coerce.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}
