package gateway

import (
	_ "embed"
	"errors"
	"log/slog"

	"github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/gateway/orders"
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

// parseSchema parses SDL with the resolver; opts add limits and such.
func parseSchema(r *Resolver, opts ...graphql.SchemaOpt) (*graphql.Schema, error) {
	return graphql.ParseSchema(SDL, r, opts...)
}
