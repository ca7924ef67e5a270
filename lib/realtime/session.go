package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/identity"
)

// Authenticate is the ConnectFunc of an app whose clients send an OIDC
// token in connection_init ({"Authorization": "Bearer <jwt>"} or
// {"authToken": "<jwt>"}, see identity.TokenFromInit): the token, verified
// by v, becomes the connection's identity. No token or a refused one
// closes the connection with 4403 Forbidden.
func Authenticate(v *identity.Verifier) ConnectFunc {
	return func(ctx context.Context, payload json.RawMessage) (Accept, error) {
		tok, err := identity.TokenFromInit(payload)
		if err != nil {
			return Accept{}, err
		}
		id, err := v.Verify(ctx, tok)
		if err != nil {
			return Accept{}, err
		}
		return Accept{Identity: &id}, nil
	}
}

// Session is the identity kept with a connection and its subscriptions
// (store.Connection.Session, store.Subscription.Session), as JSON.
func Session(id *identity.Identity) (json.RawMessage, error) {
	if id == nil {
		return nil, nil
	}
	b, err := json.Marshal(id)
	if err != nil {
		return nil, fmt.Errorf("encode the connection's identity: %w", err)
	}
	return b, nil
}

// SessionIdentity reads the identity a connection's session holds; false
// when the connection was accepted without one.
func SessionIdentity(session json.RawMessage) (identity.Identity, bool, error) {
	if len(session) == 0 {
		return identity.Identity{}, false, nil
	}
	var id identity.Identity
	if err := json.Unmarshal(session, &id); err != nil {
		return identity.Identity{}, false, fmt.Errorf("decode the connection's identity: %w", err)
	}
	if id.Subject == "" {
		return identity.Identity{}, false, errors.New("the connection's identity has no subject")
	}
	return id, true, nil
}

// WithIdentity is ctx carrying a connection's identity, when it has one:
// identity.From for resolvers, and the correlation subject for the writes
// they make and the logs.
func WithIdentity(ctx context.Context, id identity.Identity, ok bool) context.Context {
	if !ok {
		return ctx
	}
	return correlation.WithSubject(identity.With(ctx, id), id.Subject)
}
