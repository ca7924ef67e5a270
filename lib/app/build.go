package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	graphql "github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/origin"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/fanout"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/router"
	"github.com/threefactor/framework/lib/topology"
)

// This file builds the framework's components from an App and an Env: the
// Lambda mains (StartRouter...), the dev runtime and the tests call these,
// so each component is assembled in one place.

// ConsumerConcurrency is how many messages of a batch a function handles
// at once. Steps are independent per item and spend their time waiting on
// DynamoDB, so a batch of ten need not take ten round trips in a row.
const ConsumerConcurrency = 10

// NewConsumer builds function name's handler and puts it behind the SQS
// batch runtime: the routes feeding it and their dead-letter queues come
// from env (consumer.ConfigFromEnv).
func NewConsumer(ctx context.Context, a App, name string, env *Env) (*consumer.Consumer, error) {
	f, ok := a.Function(name)
	if !ok {
		return nil, fmt.Errorf("app %s has no function %q", a.Name, name)
	}
	h, err := f.Handler(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", name, err)
	}
	cfg, err := consumer.ConfigFromEnv(a.Topology(), name, env.Getenv)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", name, err)
	}
	cfg.SQS = sqs.NewFromConfig(env.AWS)
	cfg.Logger = env.Logger
	cfg.Concurrency = ConsumerConcurrency
	c, err := consumer.NewEvent(h, cfg)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", name, err)
	}
	return c, nil
}

// NewRouter builds the stream router: the bus and the stream tables come
// from env (router.ConfigFromEnv).
func NewRouter(_ context.Context, a App, env *Env) (*router.Router, error) {
	cfg, err := router.ConfigFromEnv(a.Topology(), env.Getenv)
	if err != nil {
		return nil, err
	}
	cfg.Client = eventbridge.NewFromConfig(env.AWS)
	cfg.Logger = env.Logger
	return router.New(cfg)
}

// NewSchema parses the app's schema over a resolver built from env.
func NewSchema(ctx context.Context, a App, env *Env, limits graphqlhttp.Limits) (*graphql.Schema, error) {
	r, err := a.GraphQL.Resolver(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("resolver: %w", err)
	}
	s, err := graphqlhttp.ParseSchema(a.GraphQL.SDL, r, limits)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return s, nil
}

// GraphQLOptions are what the dev runtime serves beyond the deployed
// function.
type GraphQLOptions struct {
	// GraphiQL serves the IDE to browsers.
	GraphiQL bool
	// SubscriptionsURL is where GraphiQL opens its WebSocket.
	SubscriptionsURL string
}

// NewGraphQL builds the GraphQL HTTP handler. Introspection is answered
// on the dev stage only (topology.EnvStage = "dev"), so a deployment that
// sets STAGE=prod, or forgets STAGE, does not serve its schema.
func NewGraphQL(ctx context.Context, a App, env *Env, opts GraphQLOptions) (*graphqlhttp.Handler, error) {
	var limits graphqlhttp.Limits
	if env.Getenv(topology.EnvStage) == "dev" {
		limits.AllowIntrospection = true
	}
	schema, err := NewSchema(ctx, a, env, limits)
	if err != nil {
		return nil, err
	}
	return graphqlhttp.New(schema, graphqlhttp.Config{
		Limits:           limits,
		Logger:           env.Logger,
		AllowGET:         true, // queries only: the handler refuses mutations over GET
		GraphiQL:         opts.GraphiQL,
		SubscriptionsURL: opts.SubscriptionsURL,
	})
}

// NewRealtime builds the WebSocket API handler. mgmt nil: a Management
// API client for the endpoint in env (realtime.ManagementFromEnv). The
// browser origins $connect accepts come from topology.EnvAllowedOrigins.
func NewRealtime(ctx context.Context, a App, env *Env, mgmt realtime.ManagementAPI) (*realtime.Handler, error) {
	p, err := realtimeParts(ctx, a, env, mgmt)
	origins, oerr := origin.FromEnv(env.Getenv)
	if err := errors.Join(err, oerr); err != nil {
		return nil, err
	}
	return realtime.NewHandler(realtime.Config{
		Schema: p.schema, Topics: a.GraphQL.Topics, Store: p.store, Management: p.mgmt, Logger: env.Logger,
		Origins: origins,
	})
}

// NewFanout builds the realtime fan-out, the second reader of every table
// stream. mgmt nil: a Management API client for the endpoint in env,
// without the SDK's retries (the fan-out retries with its own backoff,
// without stalling other subscribers).
func NewFanout(ctx context.Context, a App, env *Env, mgmt realtime.ManagementAPI) (*fanout.Fanout, error) {
	tables, err := a.Topology().StreamTablesFromEnv(env.Getenv)
	p, perr := realtimeParts(ctx, a, env, mgmt, func(o *apigatewaymanagementapi.Options) { o.RetryMaxAttempts = 1 })
	if err := errors.Join(err, perr); err != nil {
		return nil, err
	}
	return fanout.New(fanout.Config{
		Schema: p.schema, Topics: a.GraphQL.Topics.Change, Store: p.store, Management: p.mgmt,
		Decode: change.StreamDecoder(tables), Logger: env.Logger,
	})
}

type realtimeDeps struct {
	schema *graphql.Schema
	store  *store.Store
	mgmt   realtime.ManagementAPI
}

// realtimeParts builds what the WebSocket handler and the fan-out share;
// the error names every setting that is missing.
func realtimeParts(ctx context.Context, a App, env *Env, mgmt realtime.ManagementAPI, opts ...func(*apigatewaymanagementapi.Options)) (realtimeDeps, error) {
	var p realtimeDeps
	var errs []error
	cfg, err := store.ConfigFromEnv(env.Getenv)
	errs = append(errs, err)
	if mgmt == nil {
		c, err := realtime.ManagementFromEnv(env.AWS, env.Getenv, opts...)
		errs = append(errs, err)
		mgmt = c
	}
	p.mgmt = mgmt
	p.schema, err = NewSchema(ctx, a, env, graphqlhttp.Limits{})
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return p, err
	}
	p.store, err = store.New(env.DynamoDB(), cfg)
	return p, err
}
