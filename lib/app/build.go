package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	graphql "github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/origin"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/expiry"
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
// from env (consumer.ConfigFromEnv), and every attempt is recorded in the
// app's event log (env.Log).
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
	l, err := env.Log(a)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", name, err)
	}
	if l != nil {
		cfg.Deliveries = l
	}
	c, err := consumer.NewEvent(h, cfg)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", name, err)
	}
	return c, nil
}

// NewEventLogFeed builds the framework's eventlog function: the change
// events the eventlog route delivers are written to the app's event log
// (env.Log). Its own deliveries are not recorded: a change in the log is
// the record of its delivery.
func NewEventLogFeed(_ context.Context, a App, env *Env) (*eventlog.Feed, error) {
	l, err := env.Log(a)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", topology.EventLogFunction, err)
	}
	if l == nil {
		return nil, fmt.Errorf("%s: app %s has its event log disabled", topology.EventLogFunction, a.Name)
	}
	return eventlog.NewFeed(l, env.Logger)
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

// NewGraphQL builds the GraphQL HTTP handler. Introspection is answered
// on the dev stage only (topology.EnvStage = "dev"), so a deployment that
// sets STAGE=prod, or forgets STAGE, does not serve its schema. The
// caller is read from the claims API Gateway's JWT authorizer verified
// (groups from topology.EnvAuthGroupsClaim).
func NewGraphQL(ctx context.Context, a App, env *Env) (*graphqlhttp.Handler, error) {
	var limits graphqlhttp.Limits
	if env.Getenv(topology.EnvStage) == "dev" {
		limits.AllowIntrospection = true
	}
	schema, err := NewSchema(ctx, a, env, limits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", topology.GraphQLFunction, err)
	}
	return graphqlhttp.New(schema, graphqlhttp.Config{
		Limits:   limits,
		Logger:   env.Logger,
		AllowGET: true, // queries only: the handler refuses mutations over GET
		Claims:   identity.MappingFromEnv(env.Getenv),
	})
}

// GraphiQLOptions say how the dev stage serves its GraphiQL page
// (NewGraphQLFunction). The zero value is what a deployment does.
type GraphiQLOptions struct {
	// SubscriptionsURL is where the page opens its WebSocket. Empty: the
	// URL in topology.EnvGraphiQLSubscriptionsURL (infra sets the
	// WebSocket API's), or none.
	SubscriptionsURL string
	// Assets is where the page loads GraphiQL from (see
	// graphqlhttp.GraphiQLConfig.Assets). Empty: pinned CDN URLs with
	// subresource integrity.
	Assets string
	// Headers are the headers each page load starts with (the dev
	// runtime's: a fresh token of its demo user). Nil: an Authorization
	// header to fill in with a token.
	Headers func(context.Context) (map[string]string, error)
}

// tokenPlaceholder is the header the page starts with when nobody mints
// tokens for it: where a user's token goes.
var tokenPlaceholder = map[string]string{"Authorization": "Bearer <an ID token of a user of the app>"}

// NewGraphQLFunction is the graphql function: the API (NewGraphQL) and,
// on the dev stage only, the GraphiQL page at topology.GraphiQLPath, whose
// route has no authorizer (the page holds no data; its requests to the
// API carry the user's token), opening with the app's examples
// (GraphQL.Examples).
func NewGraphQLFunction(ctx context.Context, a App, env *Env, o GraphiQLOptions) (func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error), error) {
	h, err := NewGraphQL(ctx, a, env)
	if err != nil {
		return nil, err
	}
	if env.Getenv(topology.EnvStage) != "dev" {
		return h.HandleAPIGateway, nil
	}
	if o.SubscriptionsURL == "" {
		o.SubscriptionsURL = env.Getenv(topology.EnvGraphiQLSubscriptionsURL)
	}
	if o.Headers == nil {
		o.Headers = func(context.Context) (map[string]string, error) { return tokenPlaceholder, nil }
	}
	page, err := graphqlhttp.GraphiQL(graphqlhttp.GraphiQLConfig{
		Endpoint: topology.GraphQLPath, SubscriptionsURL: o.SubscriptionsURL,
		Assets: o.Assets, Tabs: a.GraphQL.Examples, Headers: o.Headers,
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if req.RequestContext.HTTP.Path == topology.GraphiQLPath || req.RawPath == topology.GraphiQLPath {
			return graphqlhttp.ServeAPIGateway(ctx, page, req), nil
		}
		return h.HandleAPIGateway(ctx, req)
	}, nil
}

// RealtimeOptions say how NewRealtime gets what a deployment reads from
// its environment.
type RealtimeOptions struct {
	// Management is the Management API client. Nil: one for the endpoint
	// in env (realtime.ManagementFromEnv).
	Management realtime.ManagementAPI
	// Verifier checks the tokens of connection_init. Nil: one configured
	// by env (identity.VerifierFromEnv: AUTH_ISSUER, AUTH_AUDIENCE...).
	Verifier *identity.Verifier
	// InProcessExpiry closes connections at their token's expiry with
	// in-process timers, for a process as long-lived as its connections
	// (the dev runtime). Otherwise an EventBridge Scheduler schedule does
	// it (expiry.FromEnv: EXPIRY_SCHEDULE_GROUP, EXPIRY_SCHEDULER_ROLE_ARN).
	InProcessExpiry bool
}

// NewRealtime builds the WebSocket API handler: $connect accepts the
// browser origins of topology.EnvAllowedOrigins, connection_init must
// carry a token the verifier accepts, each connection ends when its
// token expires, and subscriptions resume and catch up from the app's
// event log (env.Log).
func NewRealtime(ctx context.Context, a App, env *Env, o RealtimeOptions) (*realtime.Handler, error) {
	var errs []error
	p, err := realtimeParts(ctx, a, env, o.Management)
	errs = append(errs, err)
	v := o.Verifier
	if v == nil {
		v, err = identity.VerifierFromEnv(env.Getenv)
		errs = append(errs, err)
	}
	origins, err := origin.FromEnv(env.Getenv)
	errs = append(errs, err)
	l, err := env.Log(a)
	errs = append(errs, err)
	var closer realtime.ExpiryScheduler
	if !o.InProcessExpiry {
		s, err := expiry.FromEnv(env.AWS, env.Getenv)
		errs = append(errs, err)
		closer = s
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", topology.RealtimeFunction, err)
	}
	cfg := realtime.Config{
		Schema: p.schema, Topics: a.GraphQL.Topics, Store: p.store, Management: p.mgmt, Logger: env.Logger,
		Origins: origins, OnConnect: realtime.Authenticate(v), Expiry: closer,
	}
	if l != nil {
		cfg.Log, cfg.Pushes = l, l
		if v := env.Getenv(eventlog.EnvRetention); v != "" {
			r, err := eventlog.ParseRetention(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", topology.RealtimeFunction, err)
			}
			cfg.LogRetention = r
		}
	}
	return realtime.NewHandler(cfg)
}

// NewFanout builds the realtime fan-out, the second reader of every table
// stream, which sends the changes with a large audience to the push
// queue (topology.EnvPushQueueURL; over topology.EnvPushQueueThreshold
// subscriptions, default fanout.DefaultQueueThreshold); each change is appended to its topics'
// logs in the app's event log (env.Log), which gives pushes their
// cursors, and every push is recorded there. mgmt nil: a Management API client for the
// endpoint in env, without the SDK's retries (the fan-out retries with
// its own backoff, without stalling other subscribers).
func NewFanout(ctx context.Context, a App, env *Env, mgmt realtime.ManagementAPI) (*fanout.Fanout, error) {
	tables, err := a.Topology().StreamTablesFromEnv(env.Getenv)
	queue := env.Getenv(topology.EnvPushQueueURL)
	var qerr error
	if queue == "" {
		qerr = fmt.Errorf("%s is not set", topology.EnvPushQueueURL)
	}
	threshold := 0
	if v := env.Getenv(topology.EnvPushQueueThreshold); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			qerr = errors.Join(qerr, fmt.Errorf("%s=%q: want a positive number of subscriptions", topology.EnvPushQueueThreshold, v))
		}
		threshold = n
	}
	p, perr := realtimeParts(ctx, a, env, mgmt, func(o *apigatewaymanagementapi.Options) { o.RetryMaxAttempts = 1 })
	l, lerr := env.Log(a)
	if err := errors.Join(err, qerr, perr, lerr); err != nil {
		return nil, fmt.Errorf("%s: %w", topology.FanOutFunction, err)
	}
	cfg := fanout.Config{
		Schema: p.schema, Topics: a.GraphQL.Topics.Change, Store: p.store, Management: p.mgmt,
		Decode: change.StreamDecoder(tables), Logger: env.Logger,
		Queue: sqs.NewFromConfig(env.AWS), QueueURL: queue, QueueThreshold: threshold,
	}
	if l != nil {
		cfg.Pushes, cfg.Log = l, l
	}
	return fanout.New(cfg)
}

// NewPushWorker builds the push worker (topology.PushFunction): the
// fan-out's push path, fed by the push queue; its handler is
// fanout.Fanout.HandlePushes. Its pushes are recorded in the event log as
// the fan-out's are. mgmt as for NewFanout.
func NewPushWorker(ctx context.Context, a App, env *Env, mgmt realtime.ManagementAPI) (*fanout.Fanout, error) {
	p, err := realtimeParts(ctx, a, env, mgmt, func(o *apigatewaymanagementapi.Options) { o.RetryMaxAttempts = 1 })
	l, lerr := env.Log(a)
	if err := errors.Join(err, lerr); err != nil {
		return nil, fmt.Errorf("%s: %w", topology.PushFunction, err)
	}
	cfg := fanout.Config{
		Schema: p.schema, Topics: a.GraphQL.Topics.Change, Store: p.store, Management: p.mgmt, Logger: env.Logger,
	}
	if l != nil {
		cfg.Pushes, cfg.Log = l, l
	}
	return fanout.New(cfg)
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
