package realtime

import (
	"context"
	"encoding/json"
)

type sessionKey struct{}

// WithSession returns ctx carrying the session the app's ConnectFunc kept
// for the connection an operation runs for.
func WithSession(ctx context.Context, session json.RawMessage) context.Context {
	return context.WithValue(ctx, sessionKey{}, session)
}

// SessionFrom is the session of the connection an operation runs for (nil
// when the app kept none). Resolvers read it to authorise.
func SessionFrom(ctx context.Context) json.RawMessage {
	s, _ := ctx.Value(sessionKey{}).(json.RawMessage)
	return s
}
