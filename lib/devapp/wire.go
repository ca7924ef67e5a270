package devapp

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/lib/origin"
	"github.com/threefactor/framework/lib/realtime/localws"
	"github.com/threefactor/framework/lib/topology"
)

// Options say what Wire serves beyond what a deployment runs.
type Options struct {
	// Issuer is the local OpenID Connect issuer: the HTTP API's JWT
	// authorizer and the WebSocket's connection_init accept its tokens,
	// and its discovery document and keys are served. Required.
	Issuer *devissuer.Issuer
	// WSInitTimeout is how long a WebSocket connection may stay
	// unacknowledged before it is closed with 4408; zero is
	// localws.DefaultInitTimeout.
	WSInitTimeout time.Duration
	// WSIdleTimeout and WSMaxLifetime close a WebSocket connection that
	// sent no message for that long, and any connection that long after
	// it opened, with 1001 Going away, as API Gateway does; zero is
	// localws.DefaultIdleTimeout (10 minutes) and
	// localws.DefaultMaxLifetime (2 hours).
	WSIdleTimeout, WSMaxLifetime time.Duration
	// Getenv is where the functions' DevEnv settings are read from; nil
	// reads the process environment.
	Getenv func(string) string
	// ManagementRate holds the local Management API to that many calls a
	// second, as API Gateway's account throttle does (see
	// localws.Config.ManagementRate); zero: no limit.
	ManagementRate float64
	// GraphiQLAssets is the directory of the npm packages the GraphiQL
	// page loads (graphqlhttp.GraphiQLNodeModules, installed by make
	// deps), which the runtime serves itself: GraphiQL works offline.
	// Empty, or not installed: /graphiql says how to install them.
	GraphiQLAssets string
	// DemoUser is the user GraphiQL's requests act as: each page load
	// starts with a fresh token of it in the Authorization header.
	// Default DefaultDemoUser.
	DemoUser string
	// Lambda is how the functions run: LambdaInProcess (the default) or
	// LambdaBinary. With LambdaBinary, BuildDir receives the binaries
	// (default .dev/lambda), built from the module at ModuleDir (default
	// the module of the working directory).
	Lambda, BuildDir, ModuleDir string
	// ManagementMiddleware, when set, wraps the local Management API's
	// handler: a test makes it fail the way API Gateway's can.
	ManagementMiddleware func(http.Handler) http.Handler
	// EventLog is the event log every component of the process writes
	// to and the eventlog route's function feeds (Main's: the file store
	// under the state directory). Nil: the DynamoDB store in the
	// endpoint's eventlog table, as on AWS. Unused when the app's event
	// log is disabled.
	EventLog eventlog.Log
}

// DefaultDemoUser is the user GraphiQL signs in as locally.
const DefaultDemoUser = "demo"

// GraphiQLAssetsPath is where the runtime serves GraphiQL's files.
const GraphiQLAssetsPath = "/graphiql/assets/"

// keyRefresh is how soon the verifier looks at the issuer's keys again
// for a token naming a key it does not know: the keys are a local file,
// so a rotation (devissuer.Issuer.Rotate) is seen at once.
const keyRefresh = time.Second

// routerWakeDelay is how long the router's stream readers let the
// realtime fan-out's go first after a write of the process: the emulator
// runs DynamoDB calls one at a time, and the router's (and what its
// events set off) would otherwise queue the fan-out's read of the same
// change behind them. The functions the router feeds run asynchronously;
// the subscriber watches.
const routerWakeDelay = 30 * time.Millisecond

// Wire registers a on rt, which must be provisioned from a.Topology():
// it seeds the app's data, serves the API and runs every function.
func Wire(ctx context.Context, rt *devruntime.Runtime, a app.App, o Options) error {
	if rt.Resources() == nil {
		return fmt.Errorf("devapp: the runtime is not provisioned")
	}
	if o.Issuer == nil {
		return fmt.Errorf("devapp: no issuer")
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.DemoUser == "" {
		o.DemoUser = DefaultDemoUser
	}
	log := rt.Logger()
	vcfg := o.Issuer.VerifierConfig()
	vcfg.MinRefreshInterval, vcfg.Logger = keyRefresh, log
	verifier, err := identity.NewVerifier(vcfg)
	if err != nil {
		return err
	}
	vars := func(function string) map[string]string {
		e := rt.Env(function)
		// What infra sets on AWS; locally the keys are read in process.
		e[topology.EnvAuthIssuer] = vcfg.Issuer
		e[topology.EnvAuthAudience] = strings.Join(vcfg.Audience, ",")
		if function == topology.FanOutFunction {
			// Lets a developer send small audiences through the push
			// queue (PUSH_QUEUE_THRESHOLD=1 make dev).
			if v := o.Getenv(topology.EnvPushQueueThreshold); v != "" {
				e[topology.EnvPushQueueThreshold] = v
			}
		}
		if f, ok := a.Function(function); ok {
			for _, k := range f.DevEnv {
				if v := o.Getenv(k); v != "" {
					e[k] = v
				}
			}
		}
		return e
	}
	env := func(function string) *app.Env {
		// On AWS each function logs to its own log group; here the
		// component attribute says which one a line comes from.
		flog := log.With("component", function)
		if function == topology.RouterFunction {
			// The router names itself. Each change has its line
			// (changeLog); the router's account of its batches is for
			// LOG_LEVEL=debug.
			flog = slog.New(atLeast(log.Handler(), slog.LevelWarn))
		}
		env := app.NewEnv(rt.AWS(), app.MapEnv(vars(function)), flog)
		env.EventLog = o.EventLog
		return env
	}

	if a.Seed != nil {
		n, err := a.Seed(ctx, env(topology.GraphQLFunction))
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		if n > 0 {
			log.Info("seeded", "items", n)
		}
	}

	// The console reads what the functions write, however they run.
	if err := serveConsole(ctx, rt, a, env("console")); err != nil {
		return err
	}

	switch o.Lambda {
	case "", LambdaInProcess:
	case LambdaBinary:
		return wireBinaries(ctx, rt, a, o, vars, verifier)
	default:
		return fmt.Errorf("devapp: functions run %q: want %s or %s", o.Lambda, LambdaInProcess, LambdaBinary)
	}

	renv := env(topology.RouterFunction)
	r, err := app.NewRouter(ctx, a, renv)
	if err != nil {
		return err
	}
	tables, err := a.Topology().StreamTablesFromEnv(renv.Getenv)
	if err != nil {
		return err
	}
	changes := newChangeLog(log, change.StreamDecoder(tables))
	for _, logical := range a.Topology().StreamTables() {
		rt.StreamReader("router-"+logical, logical, changes.wrap(r.Handle), devruntime.WakeDelay(routerWakeDelay))
	}

	for _, name := range a.FunctionNames() {
		c, err := app.NewConsumer(ctx, a, name, env(name))
		if err != nil {
			return err
		}
		for _, route := range rt.Resources().RoutesOf(name) {
			rt.QueueConsumer(route.Name, c.Handle)
		}
	}
	if !a.DisableEventLog {
		feed, err := app.NewEventLogFeed(ctx, a, env(topology.EventLogFunction))
		if err != nil {
			return err
		}
		rt.QueueConsumer(topology.EventLogRoute, feed.Handle)
	}

	// As on AWS: HTTP API routes to the graphql function, /graphql with a
	// JWT authorizer on every method (the function reads the claims it
	// verified), and on the dev stage /graphiql without one (the page; the
	// WebSocket is on the same host here, its files are served from
	// node_modules, and each load starts with a token of the demo user).
	gql, err := app.NewGraphQLFunction(ctx, a, env(topology.GraphQLFunction), app.GraphiQLOptions{
		SubscriptionsURL: topology.GraphQLPath,
		Assets:           GraphiQLAssetsPath,
		Headers:          demoHeaders(o.Issuer, a.Name, o.DemoUser),
	})
	if err != nil {
		return err
	}
	rt.HandleHTTPAPI(topology.GraphQLPath, gql, verifier)
	if assets, err := graphiqlAssets(o.GraphiQLAssets); err != nil {
		log.Warn("GraphiQL is not available: "+err.Error(), "component", "graphiql")
		rt.Handle(topology.GraphiQLPath, missingGraphiQL(err))
	} else {
		rt.Handle("GET "+GraphiQLAssetsPath, http.StripPrefix(strings.TrimSuffix(GraphiQLAssetsPath, "/"), assets))
		rt.HandleHTTPAPI(topology.GraphiQLPath, gql, nil)
	}
	rt.ServeIssuer(o.Issuer)
	return wireRealtime(ctx, rt, a, o, env, verifier)
}

// wireRealtime plays API Gateway's WebSocket API: the front door raises
// $connect, $disconnect and $default for the realtime handler, which
// verifies connection_init's token with v, closes each connection when
// its token expires (an in-process timer) and answers through the local
// Management API at /@connections/; the fan-out
// reads every table stream as its second reader and pushes through the
// same Management API, and through the push queue's consumer for changes
// with a large audience.
func wireRealtime(ctx context.Context, rt *devruntime.Runtime, a app.App, o Options, env func(string) *app.Env, v *identity.Verifier) error {
	mgmt := &management{rt: rt, cfg: rt.AWS()}
	// Locally the loopback origins (any port) are allowed besides those
	// ALLOWED_ORIGINS lists; the front door and $connect apply the same.
	origins, err := origin.FromEnv(o.Getenv)
	if err != nil {
		return err
	}
	origins = origins.WithLoopback()
	renv := env(topology.RealtimeFunction)
	getenv := renv.Getenv
	renv.Getenv = func(k string) string {
		if k == topology.EnvAllowedOrigins {
			return origins.String()
		}
		return getenv(k)
	}
	h, err := app.NewRealtime(ctx, a, renv, app.RealtimeOptions{Management: mgmt, Verifier: v, InProcessExpiry: true})
	if err != nil {
		return err
	}
	// The Management API takes only calls signed with the runtime's own
	// credentials, which its clients (mgmt) sign with.
	if err := serveWebSocket(ctx, rt, o, origins, h.Handle); err != nil {
		return err
	}

	// One fan-out plays both Lambdas, the stream reader and the push
	// worker behind the push queue: in one process they share its pace
	// of Management API calls.
	f, err := app.NewFanout(ctx, a, env(topology.FanOutFunction), mgmt)
	if err != nil {
		return err
	}
	for _, logical := range a.Topology().StreamTables() {
		rt.StreamReader("realtime-"+logical, logical, f.Handle)
	}
	rt.PushConsumer(f.HandlePushes)
	return nil
}

// management is a Management API client for the runtime's own address,
// known once it listens (the listen port may be chosen at start).
type management struct {
	rt   *devruntime.Runtime
	cfg  aws.Config
	once sync.Once
	c    *apigatewaymanagementapi.Client
}

func (m *management) client(ctx context.Context) (*apigatewaymanagementapi.Client, error) {
	select {
	case <-m.rt.Ready():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	m.once.Do(func() {
		m.c = apigatewaymanagementapi.NewFromConfig(m.cfg, func(o *apigatewaymanagementapi.Options) {
			o.BaseEndpoint = aws.String(m.rt.URL())
		})
	})
	return m.c, nil
}

func (m *management) PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error) {
	c, err := m.client(ctx)
	if err != nil {
		return nil, err
	}
	out, err := c.PostToConnection(ctx, in, opts...)
	logPush(ctx, m.rt.Logger(), in, err)
	return out, err
}

func (m *management) DeleteConnection(ctx context.Context, in *apigatewaymanagementapi.DeleteConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error) {
	c, err := m.client(ctx)
	if err != nil {
		return nil, err
	}
	return c.DeleteConnection(ctx, in, opts...)
}

// serveWebSocket plays API Gateway's WebSocket API in front of handler:
// the connections at the GraphQL path, with o's timeouts and Management
// API rate, and the Management API that signs with the runtime's
// credentials; closed when ctx ends.
func serveWebSocket(ctx context.Context, rt *devruntime.Runtime, o Options, origins origin.Policy, handler localws.HandlerFunc) error {
	front, err := localws.New(localws.Config{
		Handler: handler, Logger: rt.Logger(), InitTimeout: o.WSInitTimeout,
		IdleTimeout: o.WSIdleTimeout, MaxLifetime: o.WSMaxLifetime,
		Credentials: rt.AWS().Credentials, Region: rt.AWS().Region, Origins: origins,
		ManagementRate: o.ManagementRate,
	})
	if err != nil {
		return err
	}
	rt.HandleWebSocket(topology.GraphQLPath, front)
	mh := front.Management()
	if o.ManagementMiddleware != nil {
		mh = o.ManagementMiddleware(mh)
	}
	rt.Handle("/@connections/", mh)
	go func() {
		<-ctx.Done()
		front.Close()
	}()
	return nil
}
