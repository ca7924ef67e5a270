// Package graphql builds the GraphQL HTTP function: the app's schema
// (gateway) served by lib/graphqlhttp, behind API Gateway on AWS and
// behind the dev runtime's front door locally.
package graphql

import (
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/threefactor/framework/functions/internal/wire"
	"github.com/threefactor/framework/gateway"
	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/topology"
)

// Name is the function's name.
const Name = "graphql"

// Options are what differs between the deployed and the local function.
type Options struct {
	// Limits bound each operation; zero values are the defaults.
	// Introspection follows the stage unless AllowIntrospection is set.
	Limits graphqlhttp.Limits
	// GraphiQL serves the IDE to browsers (the dev runtime turns it on).
	GraphiQL bool
	// SubscriptionsURL is where GraphiQL opens its WebSocket.
	SubscriptionsURL string
}

// NewHandler builds the handler from the environment: the tables, and
// STAGE: introspection is allowed on the dev stage only, so a deployment
// that sets STAGE=prod (or forgets STAGE) does not serve its schema.
func NewHandler(cfg aws.Config, getenv func(string) string, log *slog.Logger, opts Options) (*graphqlhttp.Handler, error) {
	store, err := wire.Store(cfg, getenv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	limits := opts.Limits
	if getenv(topology.EnvStage) == "dev" {
		limits.AllowIntrospection = true
	}
	schema, err := gateway.NewSchema(gateway.Deps{Store: store, Logger: log}, limits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	return graphqlhttp.New(schema, graphqlhttp.Config{
		Limits:           limits,
		Logger:           log,
		AllowGET:         true, // queries only: the handler refuses mutations over GET
		GraphiQL:         opts.GraphiQL,
		SubscriptionsURL: opts.SubscriptionsURL,
	})
}
