// Package correlation carries the id of the request that caused a change
// from the GraphQL request, into the written item, through its change
// events, to function logs and realtime pushes; and, next to it, the
// subject (the authenticated caller) who started that causal chain, so
// that every write records who caused it.
package correlation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
)

// Attribute is the item attribute that carries the correlation id.
const Attribute = "correlationId"

// Header is the HTTP header a client may set to choose the correlation id.
const Header = "X-Correlation-Id"

// SubjectAttribute is the item attribute that records who caused a
// write: the subject that started the causal chain.
const SubjectAttribute = "causedBy"

type key struct{}

type subjectKey struct{}

// WithSubject returns ctx carrying the subject (an identity's sub) that
// started the causal chain ctx belongs to.
func WithSubject(ctx context.Context, subject string) context.Context {
	return context.WithValue(ctx, subjectKey{}, subject)
}

// Subject is the subject in ctx, or "" (a chain nobody authenticated
// started, such as seeding).
func Subject(ctx context.Context) string {
	s, _ := ctx.Value(subjectKey{}).(string)
	return s
}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// From is the correlation id in ctx, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}

// NewID makes a random 128-bit id in hex.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Valid reports whether a client-supplied id is acceptable: 1..128
// characters of letters, digits, '-', '_' and '.'.
func Valid(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// handler adds the context's correlation id and subject to every record.
type handler struct{ slog.Handler }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if id := From(ctx); id != "" {
		r.AddAttrs(slog.String("correlationId", id))
	}
	if s := Subject(ctx); s != "" {
		r.AddAttrs(slog.String("subject", s))
	}
	return h.Handler.Handle(ctx, r)
}

func (h handler) WithAttrs(a []slog.Attr) slog.Handler { return handler{h.Handler.WithAttrs(a)} }
func (h handler) WithGroup(n string) slog.Handler      { return handler{h.Handler.WithGroup(n)} }

// Logger is a JSON slog logger on stderr that adds the correlation id and
// subject of the context passed to its *Context methods. LOG_LEVEL (debug, info,
// warn, error) sets the level.
func Logger() *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(os.Getenv("LOG_LEVEL")))
	return slog.New(handler{slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})})
}

// WrapHandler adds correlation ids and subjects to an existing slog handler.
func WrapHandler(h slog.Handler) slog.Handler { return handler{h} }
