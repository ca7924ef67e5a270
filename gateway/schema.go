package gateway

import (
	_ "embed"
	"errors"
	"log/slog"

	"github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/graphqlhttp"
)

// SDL is the schema, schema.graphql.
//
//go:embed schema.graphql
var SDL string

// Deps are what the resolvers need.
type Deps struct {
	Store *orders.Store
	// Logger logs with the request's correlation id; nil discards.
	Logger *slog.Logger
}

// Validate reports missing dependencies.
func (d Deps) Validate() error {
	if d.Store == nil {
		return errors.New("gateway: Deps.Store is nil")
	}
	return nil
}

// NewResolver is the root resolver over d.
func NewResolver(d Deps) (*Resolver, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return newResolver(d), nil
}

// NewSchema is the app's schema over d with limits applied (see
// graphqlhttp.ParseSchema). The HTTP function and the realtime fan-out
// share it: the fan-out runs stored orderUpdated operations on it with
// schema.Subscribe and a change in the context.
func NewSchema(d Deps, limits graphqlhttp.Limits) (*graphql.Schema, error) {
	r, err := NewResolver(d)
	if err != nil {
		return nil, err
	}
	return graphqlhttp.ParseSchema(SDL, r, limits)
}
