package gateway

import (
	"context"
	_ "embed"
	"errors"
	"log/slog"

	"github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/realtime"
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

// API is the app's GraphQL API: its schema, the resolver built from a
// component's environment, and the topics subscriptions and changes are
// matched by.
var API = app.GraphQL{
	SDL:      SDL,
	Resolver: Build,
	Topics: realtime.Topics{
		Subscription: SubscriptionTopic, Change: ChangeTopics,
		Snapshot: []string{"orderUpdated"},
	},
	Examples: Examples,
}

// Build is the root resolver over the order store the environment names.
func Build(_ context.Context, env *app.Env) (any, error) {
	store, err := orders.StoreFromEnv(env)
	if err != nil {
		return nil, err
	}
	return NewResolver(Deps{Store: store, Logger: env.Logger})
}

// NewSchema is the app's schema over d with limits applied (see
// graphqlhttp.ParseSchema), for tests of the resolvers.
func NewSchema(d Deps, limits graphqlhttp.Limits) (*graphql.Schema, error) {
	r, err := NewResolver(d)
	if err != nil {
		return nil, err
	}
	return graphqlhttp.ParseSchema(SDL, r, limits)
}
